package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Flags.ZF;

/**
 * Segmentation as long mode keeps it (SDM vol. 3, chapters 3, 5 and 7): the current privilege level
 * (CS.RPL), descriptors read from the GDT or LDT as implicit supervisor accesses, the task register
 * and the 64-bit TSS (RSP0-2 for a stack switch, IST1-7, the I/O permission bitmap), the LDT
 * register, data segment loads with their privilege checks, and the 0F 00 group (SLDT, STR, LLDT,
 * LTR, VERR, VERW) with LAR and LSL.
 */
abstract class Segments extends Operands {
    static final int VEC_TS = 10, VEC_SS = 12;
    static final long D_RW = 1L << 41; // readable code, writable data
    static final long D_CONFORMING = 1L << 42; // code: conforming; data: expand-down
    static final long D_CODE = 1L << 43;
    static final long D_S = 1L << 44; // code or data (else a system descriptor)
    static final long D_P = 1L << 47;
    static final long D_L = 1L << 53;
    static final long D_DB = 1L << 54;
    static final int TYPE_LDT = 2, TYPE_TSS = 9, TYPE_TSS_BUSY = 0xb;

    // Task register and LDT register: selector and the base and limit loaded with it.
    int tr;
    long trBase;
    long trLimit = -1;
    int ldtr;
    long ldtBase;
    long ldtLimit = -1;

    int cpl() {
        return cs & 3;
    }

    int iopl() {
        return (int) (rflags >>> 12) & 3;
    }

    /** An instruction only CPL 0 may run: #GP(0) elsewhere. */
    void privileged() {
        if ((cs & 3) != 0) {
            throw fault(VEC_GP, 0);
        }
    }

    static int dpl(long d) {
        return (int) (d >>> 45) & 3;
    }

    static int type(long d) {
        return (int) (d >>> 40) & 0xf;
    }

    /** The limit in bytes (scaled by the granularity bit). */
    static long limit(long d) {
        long l = (d & 0xffff) | ((d >>> 32) & 0xf0000);
        return (d & (1L << 55)) != 0 ? (l << 12) | 0xfff : l;
    }

    static long base(long d) {
        return ((d >>> 16) & 0xffffff) | ((d >>> 32) & 0xff000000L);
    }

    /** A read the processor makes for itself (descriptor tables, TSS, IDT): a supervisor access at any CPL. */
    long sysRead(long la, int size) {
        int was = supervisorAccess;
        supervisorAccess = 1;
        try {
            return rd(la, size);
        } finally {
            supervisorAccess = was;
        }
    }

    void sysWrite(long la, int size, long v) {
        int was = supervisorAccess;
        supervisorAccess = 1;
        try {
            wr(la, size, v);
        } finally {
            supervisorAccess = was;
        }
    }

    /** Whether a non-null selector's entry lies inside its table (the GDT, or the LDT for TI = 1). */
    boolean inTable(int selector) {
        if ((selector & 4) != 0) {
            return ldtLimit >= 0 && (selector | 7) <= ldtLimit;
        }
        return (selector | 7) <= gdtLimit;
    }

    long descriptorAddress(int selector) {
        return ((selector & 4) != 0 ? ldtBase : gdtBase) + (selector & ~7);
    }

    long readDescriptor(int selector) {
        return sysRead(descriptorAddress(selector), 8);
    }

    // ---------------------------------------------------------------- TSS

    /** An 8-byte field of the 64-bit TSS: #TS(TR) past its limit (or with no TSS loaded). */
    private long tssField(int offset) {
        if (offset + 7 > trLimit) {
            throw fault(VEC_TS, tr & 0xfffc);
        }
        return sysRead(trBase + offset, 8);
    }

    /** RSP0-2: the stack an interrupt switching to privilege {@code level} starts on. */
    long tssStack(int level) {
        return tssField(4 + 8 * level);
    }

    /** IST1-7: the stack a gate naming {@code n} always starts on. */
    long tssIst(int n) {
        return tssField(0x24 + 8 * (n - 1));
    }

    /**
     * IN, OUT, INS, OUTS: allowed at CPL &lt;= IOPL, else only for ports whose bits in the TSS's I/O
     * permission bitmap are all clear (SDM vol. 1, 19.5); #GP(0) otherwise.
     */
    void ioCheck(int port, int size) {
        if ((cs & 3) <= iopl()) {
            return;
        }
        if (trLimit < 0x67) {
            throw fault(VEC_GP, 0);
        }
        long at = (sysRead(trBase + 0x66, 2) & 0xffff) + (port >>> 3);
        if (at + 1 > trLimit) {
            throw fault(VEC_GP, 0);
        }
        int bits = (int) sysRead(trBase + at, 2);
        if ((bits & (((1 << size) - 1) << (port & 7))) != 0) {
            throw fault(VEC_GP, 0);
        }
    }

    // ---------------------------------------------------------------- segment loads

    /**
     * MOV to ES, SS, DS, FS or GS ({@code reg} 0, 2, 3, 4, 5) with the checks of SDM vol. 2 "MOV":
     * a null selector is allowed except in SS (where 64-bit mode allows it below CPL 3 with RPL =
     * CPL); SS takes a writable data segment of DPL = RPL = CPL (#GP, #SS if not present); the
     * others a data or readable code segment the CPL and RPL may use (#GP, #NP). FS and GS take
     * the descriptor's base (a null selector clears it, as on Intel processors).
     */
    void loadSegment(int reg, int selector) {
        if ((cr0 & CR0_PE) == 0) {
            // Real mode: the base is selector * 16; the limit and attributes stay as cached (unreal mode keeps its limit).
            sreg[reg] = selector;
            setBase(reg, (long) selector << 4);
            return;
        }
        int cpl = cs & 3;
        if ((selector & ~3) == 0) {
            if (reg == 2 && (!code64 || cpl == 3 || (selector & 3) != cpl)) {
                throw fault(VEC_GP, 0);
            }
            setSegment(reg, selector, 0);
            return;
        }
        int error = selector & 0xfffc;
        if (!inTable(selector)) {
            throw fault(VEC_GP, error);
        }
        long d = readDescriptor(selector);
        int rpl = selector & 3;
        if (reg == 2) {
            if (rpl != cpl || dpl(d) != cpl || (d & D_S) == 0 || (d & D_CODE) != 0 || (d & D_RW) == 0) {
                throw fault(VEC_GP, error);
            }
            if ((d & D_P) == 0) {
                throw fault(VEC_SS, error);
            }
        } else {
            boolean code = (d & D_CODE) != 0;
            if ((d & D_S) == 0 || (code && (d & D_RW) == 0)) {
                throw fault(VEC_GP, error);
            }
            if ((!code || (d & D_CONFORMING) == 0) && (rpl > dpl(d) || cpl > dpl(d))) {
                throw fault(VEC_GP, error);
            }
            if ((d & D_P) == 0) {
                throw fault(VEC_NP, error);
            }
        }
        setSegment(reg, selector, base(d));
        if (!code64) {
            slimit[reg] = limit(d);
            if (reg == 2) {
                stack16 = (d & D_DB) == 0;
                updateMode();
            }
        }
    }

    private void setSegment(int reg, int selector, long base) {
        sreg[reg] = selector;
        setBase(reg, base);
    }

    /** A segment's base as loaded; outside 64-bit mode ES, SS and DS have one too (a non-zero one means legacy mode). */
    void setBase(int reg, long base) {
        if (reg == 4) {
            fsBase = base;
        } else if (reg == 5) {
            gsBase = base;
        } else if (!code64) {
            sbase[reg] = base;
            updateMode();
        }
    }

    /**
     * The stack segment an IRET or far return to privilege {@code rpl} loads: in 64-bit mode a null
     * selector is allowed for a 64-bit target below CPL 3; else a present writable data segment with
     * RPL = DPL = the new CPL (#GP(selector)).
     */
    void checkStackSegment(int selector, int rpl, boolean to64) {
        if ((selector & ~3) == 0) {
            if (!to64 || rpl == 3 || (selector & 3) != rpl) {
                throw fault(VEC_GP, 0);
            }
            return;
        }
        int error = selector & 0xfffc;
        if (!inTable(selector)) {
            throw fault(VEC_GP, error);
        }
        long d = readDescriptor(selector);
        if ((selector & 3) != rpl || dpl(d) != rpl || (d & D_S) == 0 || (d & D_CODE) != 0 || (d & D_RW) == 0) {
            throw fault(VEC_GP, error);
        }
        if ((d & D_P) == 0) {
            throw fault(VEC_SS, error);
        }
    }

    /** A return to an outer privilege level nulls DS, ES, FS, GS where they hold a segment the new CPL may not use. */
    void nullInaccessibleSegments(int newCpl) {
        for (int reg : new int[] {0, 3, 4, 5}) {
            int sel = sreg[reg];
            if ((sel & ~3) == 0 || !inTable(sel)) {
                continue;
            }
            long d = readDescriptor(sel);
            boolean conformingCode = (d & D_CODE) != 0 && (d & D_CONFORMING) != 0;
            if (!conformingCode && dpl(d) < newCpl) {
                sreg[reg] = 0; // the selector only: the FS and GS bases stay (64-bit mode)
            }
        }
    }

    // ---------------------------------------------------------------- 0F 00, LAR, LSL

    /** The 0F 00 group: SLDT, STR, LLDT, LTR, VERR, VERW. */
    void group6() {
        modrm();
        int which = modReg & 7;
        switch (which) {
            case 0 -> setRm(modIsReg ? dec.opsize : 2, ldtr);
            case 1 -> setRm(modIsReg ? dec.opsize : 2, tr);
            case 2 -> {
                privileged();
                lldt((int) rm(2) & 0xffff);
            }
            case 3 -> {
                privileged();
                ltr((int) rm(2) & 0xffff);
            }
            case 4, 5 -> verify((int) rm(2) & 0xffff, which == 5);
            default -> throw ud();
        }
    }

    /**
     * A system descriptor of {@code type} in the GDT, 16 bytes in long mode: #GP(selector) for the
     * LDT, beyond the limit or of another type, #NP(selector) not present. Returns its low half.
     */
    private long systemDescriptor(int selector, int type) {
        int error = selector & 0xfffc;
        boolean longMode = (efer & EFER_LMA) != 0;
        if ((selector & 4) != 0 || (selector | 7) + (longMode ? 8 : 0) > gdtLimit) {
            throw fault(VEC_GP, error);
        }
        long d = readDescriptor(selector);
        if ((d & D_S) != 0 || type(d) != type) {
            throw fault(VEC_GP, error);
        }
        if ((d & D_P) == 0) {
            throw fault(VEC_NP, error);
        }
        return d;
    }

    private long systemBase(int selector, long d) {
        long base = base(d);
        if ((efer & EFER_LMA) != 0) {
            base |= sysRead(gdtBase + (selector & ~7) + 8, 4) << 32;
        }
        return base;
    }

    /** LLDT: a null selector leaves no LDT (references through it #GP). */
    void lldt(int selector) {
        if ((selector & ~3) == 0) {
            ldtr = 0;
            ldtBase = 0;
            ldtLimit = -1;
            return;
        }
        long d = systemDescriptor(selector, TYPE_LDT);
        ldtBase = systemBase(selector, d);
        ldtLimit = limit(d);
        ldtr = selector;
    }

    /** LTR: an available TSS (a busy one is #GP), marked busy in the GDT. */
    void ltr(int selector) {
        if ((selector & ~3) == 0) {
            throw fault(VEC_GP, 0);
        }
        long d = systemDescriptor(selector, TYPE_TSS);
        long base = systemBase(selector, d);
        sysWrite(gdtBase + (selector & ~7), 8, d | (2L << 40));
        trBase = base;
        trLimit = limit(d);
        tr = selector;
    }

    /**
     * The descriptor a LAR, LSL, VERR or VERW may look at, or 0 where ZF is to be cleared: a non-null
     * selector inside its table, for a code or data segment usable at max(CPL, RPL) (conforming code
     * at any), or for a system descriptor of one of {@code systemTypes} (a bit per type) under the
     * same privilege rule.
     */
    private long visibleDescriptor(int selector, int systemTypes) {
        if ((selector & ~3) == 0 || !inTable(selector)) {
            return 0;
        }
        long d = readDescriptor(selector);
        boolean conformingCode = (d & D_S) != 0 && (d & D_CODE) != 0 && (d & D_CONFORMING) != 0;
        if ((d & D_S) == 0 && (systemTypes & (1 << type(d))) == 0) {
            return 0;
        }
        if (!conformingCode && dpl(d) < Math.max(cs & 3, selector & 3)) {
            return 0;
        }
        return d;
    }

    /** VERR, VERW: ZF says whether the segment is readable (writable) at the current privilege; never a fault for the selector. */
    private void verify(int selector, boolean write) {
        long d = visibleDescriptor(selector, 0);
        boolean code = (d & D_CODE) != 0;
        boolean ok = d != 0 && (write ? !code && (d & D_RW) != 0 : !code || (d & D_RW) != 0);
        rflags = ok ? rflags | ZF : rflags & ~ZF;
    }

    /** LAR (0F 02) and LSL (0F 03): the access rights or the limit of a visible descriptor, ZF set; else ZF clear, the register unchanged. */
    void larLsl(boolean lsl) {
        modrm();
        int selector = (int) rm(2) & 0xffff;
        int systemTypes = (1 << TYPE_LDT) | (1 << TYPE_TSS) | (1 << TYPE_TSS_BUSY) | (lsl ? 0 : 1 << 0xc); // 0xc: call gate
        long d = visibleDescriptor(selector, systemTypes);
        if (d == 0) {
            rflags &= ~ZF;
            return;
        }
        setReg(modReg, dec.opsize, lsl ? limit(d) & 0xffffffffL : (d >>> 32) & 0x00f0ff00L);
        rflags |= ZF;
    }

    Segments(Wiring w) {
        super(w);
    }
}
