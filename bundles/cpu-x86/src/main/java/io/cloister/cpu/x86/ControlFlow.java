package io.cloister.cpu.x86;

/**
 * Control transfers beyond plain jumps: far returns, IRET, loading CS, and the checks of a code
 * segment they return to.
 */
abstract class ControlFlow extends Exceptions {
    long target(long t) {
        return code64 ? t : t & 0xffffffffL;
    }

    void jump(long target) {
        ip = code64 ? target : target & 0xffffffffL;
    }

    void loadCs(int selector) {
        long desc = rd(gdtBase + (selector & ~7), 8);
        cs = selector;
        boolean l = (desc & (1L << 53)) != 0;
        code64 = l && (efer & EFER_LMA) != 0;
    }

    /**
     * IRET of the operand size (IRETQ with REX.W, IRETD by default, also in 64-bit mode): rIP, CS,
     * rFLAGS, and in 64-bit mode always SS:rSP. Everything is read and checked before anything
     * changes, so a fault (or an exit for a stack in MMIO) leaves the state as it was.
     */
    void iret() {
        nmiBlocked = false;
        int s = opsize;
        long sp = r[RSP];
        long newRip = rd(stackAddress(sp), s);
        int newCs = (int) rd(stackAddress(sp + s), s) & 0xffff;
        long newFlags = rd(stackAddress(sp + 2L * s), s);
        long newSp = sp + 3L * s;
        int newSs = sreg[2];
        if (code64) {
            newSp = rd(sp + 3L * s, s);
            newSs = (int) rd(sp + 4L * s, s) & 0xffff;
        }
        boolean to64 = (efer & EFER_LMA) != 0 ? codeSegment(newCs, newRip) : false;
        long mask = s == 2 ? 0x7fd5L : 0x3f7fd5L;
        rflags = (rflags & ~mask) | (newFlags & mask) | Flags.FIXED;
        r[RSP] = code64 ? newSp : (r[RSP] & ~0xffffffffL) | (newSp & 0xffffffffL);
        sreg[2] = newSs;
        cs = newCs;
        code64 = to64;
        jump(newRip);
    }

    /**
     * LRET (0xcb; 0xca releases {@code release} more bytes): rIP and CS of the operand size,
     * 32-bit by default also in 64-bit mode. Only returns to the same privilege level (the vCPU
     * runs at CPL 0). Checked before anything changes.
     */
    void farReturn(int release) {
        int s = opsize;
        long sp = r[RSP];
        long newRip = rd(stackAddress(sp), s);
        int newCs = (int) rd(stackAddress(sp + s), s) & 0xffff;
        boolean to64 = (efer & EFER_LMA) != 0 ? codeSegment(newCs, newRip) : code64;
        long newSp = sp + 2L * s + release;
        r[RSP] = code64 ? newSp : (r[RSP] & ~0xffffffffL) | (newSp & 0xffffffffL);
        cs = newCs;
        code64 = to64;
        jump(newRip);
    }

    private long stackAddress(long sp) {
        return code64 ? sp : sp & 0xffffffffL;
    }

    /**
     * The checks of a far return to code segment {@code selector} in the GDT (SDM vol. 2, IRET and
     * RET): #GP(0) for a null selector, #GP(selector) beyond the GDT's limit, in the LDT or not a
     * code segment, #NP(selector) not present, #GP(0) for a non-canonical 64-bit target. Returns
     * whether the segment is 64-bit code.
     */
    private boolean codeSegment(int selector, long target) {
        int error = selector & 0xfffc;
        if (error == 0) {
            throw fault(VEC_GP, 0);
        }
        if ((selector & 4) != 0 || (selector | 7) > gdtLimit) {
            throw fault(VEC_GP, error);
        }
        long desc = rd(gdtBase + (selector & ~7), 8);
        if ((desc & (1L << 44)) == 0 || (desc & (1L << 43)) == 0) { // S = 1 and executable
            throw fault(VEC_GP, error);
        }
        if ((desc & (1L << 47)) == 0) {
            throw fault(VEC_NP, error);
        }
        boolean is64 = (desc & (1L << 53)) != 0;
        if (is64 && (target << 16 >> 16) != target) {
            throw fault(VEC_GP, 0);
        }
        return is64;
    }

    ControlFlow(Wiring w) {
        super(w);
    }
}
