package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Flags.IF;
import static io.cloister.cpu.x86.Flags.TF;

/**
 * Real mode and 16-bit code, as an AP runs them from its start-up IPI to long mode (Linux's
 * trampoline_64.S, verify_cpu.S): the INIT state and the start at vector * 4096, the stack of a
 * 16-bit or based stack segment, and interrupts through the real-mode IVT. The rest is spread
 * where it belongs: segment loads with selector * 16 in {@link Segments}, 16-bit ModRM addressing
 * and segment bases in {@link Operands}, far jumps, calls and returns in {@link ControlFlow}.
 *
 * All of it runs in the interpreter only ({@link #legacy}): the decoded path and compiled blocks
 * keep to 32-bit flat and 64-bit code, so they pay nothing for it.
 *
 * Not modelled: the A20 gate (always enabled), virtual-8086 mode, task switches, interrupts in
 * 16/32-bit protected mode (no 32-bit IDT: a fault there ends as a triple fault), segment limits
 * on stack and string accesses (checked on ModRM and code operands' first byte).
 */
abstract class RealMode extends Segments {
    private static final long AC = 1L << 18, RF = 1L << 16;

    RealMode(Wiring w) {
        super(w);
    }

    /** The CS selector as MOV, PUSH and the frames of far calls and interrupts see it. */
    int csSelector() {
        return (cr0 & CR0_PE) == 0 ? realCs : cs;
    }

    long stackMask() {
        return stack16 ? 0xffffL : 0xffffffffL;
    }

    /** Sets SP (a 16-bit stack) or ESP; the upper bits stay. */
    void setStackPointer(long sp) {
        r[RSP] = stack16 ? (r[RSP] & ~0xffffL) | (sp & 0xffff) : (r[RSP] & ~0xffffffffL) | (sp & 0xffffffffL);
    }

    /** A stack address: SS's base plus the offset, wrapping at the stack's width. */
    long stackLinear(long sp) {
        return (sbase[SEG_SS] + (sp & stackMask())) & 0xffffffffL;
    }

    /** PUSH for the interpreter: through SS in legacy mode, else {@link #push}. */
    void spush(long v, int size) {
        if (!legacy) {
            push(v, size);
            return;
        }
        long sp = (r[RSP] - size) & stackMask();
        wr(stackLinear(sp), size, v);
        setStackPointer(sp);
    }

    /** POP for the interpreter: through SS in legacy mode, else {@link #pop}. */
    long spop(int size) {
        if (!legacy) {
            return pop(size);
        }
        long sp = r[RSP] & stackMask();
        long v = rd(stackLinear(sp), size);
        setStackPointer(sp + size);
        return v;
    }

    /** Adds to SP or ESP (ENTER, RET n) at the stack's width. */
    void addStackPointer(long delta) {
        if (legacy) {
            setStackPointer(r[RSP] + delta);
        } else {
            r[RSP] = code64 ? r[RSP] + delta : (r[RSP] & ~0xffffffffL) | ((r[RSP] + delta) & 0xffffffffL);
        }
    }

    /** Real mode: CS, its base selector * 16 and IP. */
    void realCs(int selector, long ip) {
        realCs = selector & 0xffff;
        sbase[SEG_CS] = (long) realCs << 4;
        cs = 0;
        rip = ip;
        updateMode();
    }

    /**
     * An interrupt or exception in real mode (SDM vol. 3, 20.1.4): FLAGS, CS and IP (the return
     * address) are pushed on the 16-bit frame, IF, TF, AC and RF cleared, and CS:IP loaded from
     * the IVT entry at IDTR.base + vector * 4. An entry past the IDT's limit is #GP, so a guest
     * without an IVT ends up in a triple fault, as on hardware. Everything is read and written
     * before a register changes.
     */
    void realInterrupt(int vector, long returnIp) {
        if (idtLimit < 0 || vector * 4L + 3 > idtLimit) {
            throw fault(VEC_GP, vector * 8L + 2);
        }
        long entry = rd((idtBase + vector * 4L) & 0xffffffffL, 4);
        long sp = r[RSP];
        wr(stackLinear(sp - 2), 2, flags());
        wr(stackLinear(sp - 4), 2, csSelector());
        wr(stackLinear(sp - 6), 2, returnIp);
        setStackPointer(sp - 6);
        rflags &= ~(IF | TF | AC | RF);
        realCs((int) (entry >>> 16), entry & 0xffff);
    }

    /**
     * The state INIT leaves (SDM vol. 3, table 10-1): real mode at F000:FFF0, CR0 = 0x60000010, the
     * segments' bases 0 with 64 KiB limits, GDTR and IDTR at base 0 with limit 0xFFFF, EDX the
     * processor signature, the other registers 0. MSRs, the x87/SSE state and the APIC (its own
     * INIT) are not the engine's to reset here.
     */
    void initState() {
        materialize();
        java.util.Arrays.fill(r, 0);
        r[RDX] = model.cpuid(1, 0)[0] & 0xffffffffL;
        rflags = Flags.FIXED;
        cr0 = 0x60000000L | CR0_ET;
        cr2 = 0;
        cr3 = 0;
        cr4 = 0;
        efer = 0;
        gdtBase = 0;
        gdtLimit = 0xffff;
        idtBase = 0;
        idtLimit = 0xffff;
        java.util.Arrays.fill(sreg, 0);
        java.util.Arrays.fill(sbase, 0);
        java.util.Arrays.fill(slimit, 0xffff);
        fsBase = 0;
        gsBase = 0;
        tr = 0;
        trBase = 0;
        trLimit = -1;
        ldtr = 0;
        ldtBase = 0;
        ldtLimit = -1;
        code64 = false;
        code16 = true;
        stack16 = true;
        nmiBlocked = false;
        shadowRetired = -1;
        realCs(0xf000, 0xfff0);
        sbase[SEG_CS] = 0xffff0000L; // the reset vector's base, until the first far jump
        flushTlb();
        privilegeChanged();
    }

    /**
     * The state a PVH entry (and the START_VCPU hypercall) starts in: 32-bit protected mode with
     * flat segments, paging off, no GDT or IDT yet, %ebx = {@code startInfo}.
     */
    void pvhState(long entry, long startInfo) {
        initState();
        r[RDX] = 0;
        r[RBX] = startInfo & 0xffffffffL;
        cr0 = CR0_PE | CR0_ET;
        gdtLimit = 0;
        idtLimit = -1;
        java.util.Arrays.fill(sbase, 0);
        java.util.Arrays.fill(slimit, 0xffffffffL);
        code16 = false;
        stack16 = false;
        cs = 0x08;
        rip = entry & 0xffffffffL;
        updateMode();
    }

    /** For tests that set the mode's fields directly: flat 4 GiB segments, 32- or 64-bit code as code64 says. */
    void flatSegments() {
        java.util.Arrays.fill(sbase, 0);
        java.util.Arrays.fill(slimit, 0xffffffffL);
        code16 = false;
        stack16 = false;
        updateMode();
    }

    /** A start-up IPI: the AP runs real-mode code at vector * 4096 (CS = vector * 256, IP = 0). */
    void startup(int vector) {
        realCs(vector << 8, 0);
    }
}
