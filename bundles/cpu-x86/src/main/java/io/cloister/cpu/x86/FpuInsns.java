package io.cloister.cpu.x86;

/**
 * What the x87, MMX and SSE instructions share: the CR0/CR4 checks that decide between running,
 * #UD, #NM and #MF (SDM vol. 3, 2.5 and 13.1), MXCSR's exception flags and #XM, 64- and 128-bit
 * memory operands, and the state instructions FXSAVE, FXRSTOR, LDMXCSR, STMXCSR, FWAIT, CLTS and
 * the 0F AE group (fences, CLFLUSH). The state itself is {@link FpuState}.
 */
abstract class FpuInsns extends SystemInsns {
    static final long CR0_MP = 1L << 1;
    static final long CR0_EM = 1L << 2;
    static final long CR0_TS = 1L << 3;
    static final long CR0_NE = 1L << 5;
    static final long CR4_OSFXSR = 1L << 9;
    static final long CR4_OSXMMEXCPT = 1L << 10;
    static final int VEC_NM = 7, VEC_MF = 16, VEC_XM = 19;
    /** CPUID.1 EDX bits these classes back: FPU, MMX, FXSR, SSE, SSE2 (the x86-64 baseline; nothing later). */
    static final int CPUID1_EDX = 1 | (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26);

    /** SSE: #UD under CR0.EM or without CR4.OSFXSR; #NM under CR0.TS. */
    void sseCheck() {
        if ((cr0 & CR0_EM) != 0 || (cr4 & CR4_OSFXSR) == 0) {
            throw ud();
        }
        if ((cr0 & CR0_TS) != 0) {
            throw fault(VEC_NM);
        }
    }

    /** x87: #NM under CR0.EM or CR0.TS; a waiting instruction then takes a pending unmasked exception as #MF. */
    void x87Check(boolean waiting) {
        if ((cr0 & (CR0_EM | CR0_TS)) != 0) {
            throw fault(VEC_NM);
        }
        if (waiting) {
            pendingMf();
        }
    }

    /** FSW.ES is set: #MF when CR0.NE selects native reporting (else the legacy FERR# pin, which nothing here wires). */
    void pendingMf() {
        if ((fpu.fsw & 0x80) != 0 && (cr0 & CR0_NE) != 0) {
            throw fault(VEC_MF);
        }
    }

    /** MMX: #UD under CR0.EM, #NM under CR0.TS, #MF for a pending x87 exception; then the x87 tags are all valid. */
    void mmxCheck() {
        if ((cr0 & CR0_EM) != 0) {
            throw ud();
        }
        if ((cr0 & CR0_TS) != 0) {
            throw fault(VEC_NM);
        }
        pendingMf();
        fpu.enterMmx();
    }

    /** FWAIT: #NM when CR0.MP and CR0.TS are both set, then a pending unmasked x87 exception. */
    void fwait() {
        if ((cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS)) {
            throw fault(VEC_NM);
        }
        pendingMf();
    }

    /** The SoftFloat context from MXCSR: rounding, DAZ, FTZ, underflow mask; no flags yet. */
    SoftFloat sseContext() {
        SoftFloat sf = fpu.sf;
        int m = fpu.mxcsr;
        sf.rc = (m >>> 13) & 3;
        sf.daz = (m & 0x40) != 0;
        sf.ftz = (m & 0x8000) != 0;
        sf.underflowMasked = (m & 0x800) != 0;
        sf.extPrecision = 64;
        sf.flags = 0;
        return sf;
    }

    /**
     * Folds an SSE operation's exception flags into MXCSR; an unmasked one faults (#XM with
     * CR4.OSXMMEXCPT, else #UD) before the result is written.
     */
    void sseFlags(int flags) {
        fpu.mxcsr |= flags;
        if ((flags & ~(fpu.mxcsr >>> 7) & 0x3f) != 0) {
            throw (cr4 & CR4_OSXMMEXCPT) != 0 ? fault(VEC_XM) : ud();
        }
    }

    // ---------------------------------------------------------------- memory operands

    /** A 16-byte operand: #GP(0) unless aligned where {@code aligned}; lo to out[0], hi to out[1]. */
    void read16(long addr, boolean aligned, long[] out) {
        if (aligned && (addr & 15) != 0) {
            throw fault(VEC_GP, 0);
        }
        long lo = rd(addr, 8);
        out[1] = rd(addr + 8, 8);
        out[0] = lo;
    }

    /** Writes 16 bytes; both ends are translated first, so a fault leaves memory unchanged. */
    void write16(long addr, boolean aligned, long lo, long hi) {
        if (aligned && (addr & 15) != 0) {
            throw fault(VEC_GP, 0);
        }
        translate(addr, WRITE);
        translate(addr + 15, WRITE);
        wr(addr, 8, lo);
        wr(addr + 8, 8, hi);
    }

    // ---------------------------------------------------------------- state instructions

    private int xmmCount() {
        return code64 ? 16 : 8;
    }

    /** 0F AE: FXSAVE, FXRSTOR, LDMXCSR, STMXCSR, CLFLUSH; LFENCE, MFENCE, SFENCE. XSAVE and the rest: #UD (not advertised). */
    void group15() {
        modrm();
        int which = modReg & 7;
        if (dec.rep != 0 || dec.opsize == 2 && !modIsReg) {
            throw ud(); // RDFSBASE and kin, CLFLUSHOPT, CLWB: not advertised
        }
        if (modIsReg) {
            if (which < 5) {
                throw ud();
            }
            return; // fences: this vCPU's accesses are already in program order
        }
        switch (which) {
            case 0 -> fxsave();
            case 1 -> fxrstor();
            case 2 -> {
                sseCheck();
                int v = (int) rd(ea, 4);
                if ((v & ~FpuState.MXCSR_MASK) != 0) {
                    throw fault(VEC_GP, 0);
                }
                fpu.mxcsr = v;
            }
            case 3 -> {
                sseCheck();
                wr(ea, 4, fpu.mxcsr);
            }
            case 7 -> translate(ea, READ); // CLFLUSH: memory is coherent; it faults as a byte load would
            default -> throw ud();
        }
    }

    private void fxsave() {
        if ((cr0 & (CR0_EM | CR0_TS)) != 0) {
            throw fault(VEC_NM);
        }
        if ((ea & 15) != 0) {
            throw fault(VEC_GP, 0);
        }
        byte[] img = fpu.save(xmmCount());
        int n = 160 + 16 * xmmCount();
        translate(ea, WRITE);
        translate(ea + n - 1, WRITE);
        for (int i = 0; i < n; i += 8) {
            wr(ea + i, 8, FpuState.get(img, i, 8));
        }
    }

    private void fxrstor() {
        if ((cr0 & (CR0_EM | CR0_TS)) != 0) {
            throw fault(VEC_NM);
        }
        if ((ea & 15) != 0) {
            throw fault(VEC_GP, 0);
        }
        int n = 160 + 16 * xmmCount();
        byte[] img = new byte[416];
        for (int i = 0; i < n; i += 8) {
            FpuState.put(img, i, rd(ea + i, 8), 8);
        }
        if ((FpuState.get(img, 24, 4) & ~FpuState.MXCSR_MASK) != 0) {
            throw fault(VEC_GP, 0);
        }
        fpu.restore(img, xmmCount());
    }

    /** CLTS (0F 06): clears CR0.TS; ring 0 only. */
    void clts() {
        privileged();
        cr0 &= ~CR0_TS;
    }

    FpuInsns(Wiring w) {
        super(w);
    }
}
