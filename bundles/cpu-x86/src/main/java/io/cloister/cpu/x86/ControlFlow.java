package io.cloister.cpu.x86;

/**
 * Control transfers beyond plain jumps: far returns, IRET, loading CS, and the checks of a code
 * segment they return to.
 */
abstract class ControlFlow extends Exceptions {
    long target(long t) {
        return code64 ? t : t & 0xffffffffL;
    }

    /**
     * A near jump (and the end of IRET and far RET): outside 64-bit mode a 16-bit operand size
     * clears the upper half of EIP, in 16-bit code and in 32-bit code with 0x66 alike (SDM vol. 2,
     * JMP, CALL, RET and LOOP: "IF OperandSize = 16 THEN EIP &larr; tempEIP AND 0000FFFFH"; Jcc: "If
     * the operand-size attribute is 16, the upper two bytes of the EIP register are cleared"). In
     * 64-bit mode near branches ignore 0x66 (f64, see Decoder.nearBranch).
     */
    void jump(long target) {
        ip = code64 ? target : dec.opsize == 2 ? target & 0xffff : target & 0xffffffffL;
    }

    /** CS from the GDT in protected mode (far JMP, CALL): its mode (64-bit, 32-bit, 16-bit code) and base. */
    void loadCs(int selector) {
        long desc = rd(gdtBase + (selector & ~7), 8);
        cs = selector;
        boolean l = (desc & (1L << 53)) != 0;
        code64 = l && (efer & EFER_LMA) != 0;
        code16 = !code64 && (desc & D_DB) == 0;
        sbase[SEG_CS] = code64 ? 0 : base(desc);
        slimit[SEG_CS] = limit(desc);
        updateMode();
    }

    /** A far JMP to selector:offset: selector * 16 in real mode, a GDT descriptor in protected mode. */
    void farJump(int selector, long offset) {
        if ((cr0 & CR0_PE) == 0) {
            realCs(selector, offset);
            ip = rip;
            return;
        }
        loadCs(selector);
        ip = code64 ? offset : offset & 0xffffffffL;
    }

    /** A far CALL (9A, FF /3): CS and the return address pushed at the operand size, then the far jump. */
    void farCall(int selector, long offset) {
        int s = dec.opsize == 2 ? 2 : 4;
        long sp = r[RSP];
        int oldCs = csSelector();
        long ret = ip;
        spush(oldCs, s);
        try {
            spush(ret, s);
        } catch (Fault f) {
            r[RSP] = sp; // nothing changes on a fault
            throw f;
        }
        farJump(selector, offset);
    }

    /**
     * IRET (return {@code true}) or a far return with {@code release} bytes outside long mode (legacy
     * mode): IP, CS (and FLAGS) of the operand size popped through SS. In real mode CS is the
     * selector * 16; in protected mode a same-privilege return loads the descriptor (a return to
     * another privilege level, which needs the 32-bit TSS, is #GP).
     */
    private void legacyReturn(boolean iret, int release) {
        int s = dec.opsize;
        long sp = r[RSP];
        long newIp = rd(stackLinear(sp), s);
        int newCs = (int) rd(stackLinear(sp + s), s) & 0xffff;
        long newFlags = iret ? rd(stackLinear(sp + 2L * s), s) : 0;
        boolean real = (cr0 & CR0_PE) == 0;
        if (!real) {
            codeSegment(newCs, newIp);
            if ((newCs & 3) != (cs & 3)) {
                throw fault(VEC_GP, newCs & 0xfffc);
            }
        }
        if (iret) {
            long mask = s == 2 ? 0x7fd5L : 0x3d7fd5L; // never VM (bit 17)
            if ((cs & 3) > 0) {
                mask &= ~0x3000L;
            }
            if ((cs & 3) > iopl()) {
                mask &= ~Flags.IF;
            }
            nmiBlocked = false;
            rflags = (rflags & ~mask) | (newFlags & mask) | Flags.FIXED;
        }
        setStackPointer(sp + (iret ? 3L : 2L) * s + release);
        if (real) {
            realCs(newCs, newIp & (s == 2 ? 0xffff : 0xffffffffL));
            ip = rip;
        } else {
            loadCs(newCs);
            ip = newIp & (s == 2 ? 0xffff : 0xffffffffL);
        }
    }

    /**
     * IRET of the operand size (IRETQ with REX.W, IRETD by default, also in 64-bit mode): rIP, CS,
     * rFLAGS, and in 64-bit mode always SS:rSP. CS's RPL is the new CPL: the same or an outer level
     * (#GP(selector) for an inner one), with SS checked for it; a return to an outer level nulls the
     * data segment registers it may not use. IOPL changes only at CPL 0, IF only at CPL &lt;= IOPL;
     * virtual-8086 mode is not entered. Everything is read and checked before anything changes, so
     * a fault (or an exit for a stack in MMIO) leaves the state as it was.
     */
    void iret() {
        if ((efer & EFER_LMA) == 0) { // also flat 32-bit code: the return may be to a 16-bit segment (legacy from then on)
            legacyReturn(true, 0);
            return;
        }
        int s = dec.opsize;
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
        int cpl = cs & 3;
        int rpl = newCs & 3;
        long desc = codeSegment(newCs, newRip);
        boolean to64 = (desc & D_L) != 0;
        if (code64 && (newSs != sreg[2] || rpl != cpl)) {
            checkStackSegment(newSs, rpl, to64);
        }
        long mask = s == 2 ? 0x7fd5L : 0x3d7fd5L; // never VM (bit 17)
        if (cpl > 0) {
            mask &= ~0x3000L; // IOPL
        }
        if (cpl > iopl()) {
            mask &= ~Flags.IF;
        }
        nmiBlocked = false;
        rflags = (rflags & ~mask) | (newFlags & mask) | Flags.FIXED;
        r[RSP] = code64 ? newSp : (r[RSP] & ~0xffffffffL) | (newSp & 0xffffffffL);
        sreg[2] = newSs;
        changePrivilege(newCs, desc, rpl, cpl);
        jump(newRip);
    }

    /**
     * CS and the mode its descriptor selects (64-bit code, or compatibility mode with D's default
     * size: 16-bit code decodes with 16-bit operands and addresses, and only the interpreter runs
     * it); a change of CPL drops what was checked at the old one.
     */
    private void changePrivilege(int newCs, long desc, int rpl, int cpl) {
        cs = newCs;
        code64 = (desc & D_L) != 0;
        code16 = !code64 && (desc & D_DB) == 0;
        if (rpl != cpl) {
            nullInaccessibleSegments(rpl);
            privilegeChanged();
        }
    }

    /**
     * LRET (0xcb; 0xca releases {@code release} more bytes): rIP and CS of the operand size,
     * 32-bit by default also in 64-bit mode; to an outer privilege level SS:rSP follow (the release
     * applies to both stacks). Checked before anything changes.
     */
    void farReturn(int release) {
        if ((efer & EFER_LMA) == 0) { // as IRET
            legacyReturn(false, release);
            return;
        }
        int s = dec.opsize;
        long sp = r[RSP];
        long newRip = rd(stackAddress(sp), s);
        int newCs = (int) rd(stackAddress(sp + s), s) & 0xffff;
        int cpl = cs & 3;
        int rpl = newCs & 3;
        long desc = codeSegment(newCs, newRip);
        boolean to64 = (desc & D_L) != 0;
        long newSp = sp + 2L * s + release;
        int newSs = sreg[2];
        if (rpl != cpl) {
            long outerSp = rd(stackAddress(newSp), s);
            newSs = (int) rd(stackAddress(newSp + s), s) & 0xffff;
            checkStackSegment(newSs, rpl, to64);
            newSp = outerSp + release;
        }
        r[RSP] = code64 || rpl != cpl ? newSp : (r[RSP] & ~0xffffffffL) | (newSp & 0xffffffffL);
        sreg[2] = newSs;
        changePrivilege(newCs, desc, rpl, cpl);
        jump(newRip);
    }

    private long stackAddress(long sp) {
        return code64 ? sp : sp & 0xffffffffL;
    }

    /**
     * The checks of a far return to code segment {@code selector} (SDM vol. 2, IRET and RET): #GP(0)
     * for a null selector, #GP(selector) outside its table, not a code segment, of an RPL below the
     * CPL, of a DPL other than the RPL (above it, for conforming code), #NP(selector) not present,
     * #GP(0) for a non-canonical 64-bit target. Returns the descriptor (L: 64-bit code; D: 32-bit).
     */
    private long codeSegment(int selector, long target) {
        int error = selector & 0xfffc;
        if (error == 0) {
            throw fault(VEC_GP, 0);
        }
        if (!inTable(selector)) {
            throw fault(VEC_GP, error);
        }
        long desc = readDescriptor(selector);
        if ((desc & D_S) == 0 || (desc & D_CODE) == 0) { // S = 1 and executable
            throw fault(VEC_GP, error);
        }
        int rpl = selector & 3;
        boolean conforming = (desc & D_CONFORMING) != 0;
        if (rpl < (cs & 3) || (conforming ? dpl(desc) > rpl : dpl(desc) != rpl)) {
            throw fault(VEC_GP, error);
        }
        if ((desc & (1L << 47)) == 0) {
            throw fault(VEC_NP, error);
        }
        if ((desc & D_L) != 0 && (target << 16 >> 16) != target) {
            throw fault(VEC_GP, 0);
        }
        return desc;
    }

    ControlFlow(Wiring w) {
        super(w);
    }
}
