package io.cloister.cpu.x86;

/**
 * More {@link Ops} shapes: the forms that, counted on the Linux boot after Ops' own, the general
 * switch ran most (session 16: IMUL of registers 0.8 M times, INC/DEC 1.3 M, SETcc 0.7 M, CMOVcc
 * 0.7 M, NOT 0.5 M, shifts by CL 0.7 M), each about three times an op's cost there. Each does what
 * {@code DecodedPath.execDecoded} does for its form, with the same helpers (lazy flags), on
 * registers of 4 or 8 bytes (a 4-byte result zero-extended), or a byte register for SETcc.
 */
final class RegisterOps {
    private RegisterOps() {
    }

    /** IMUL reg, rm (a register), and IMUL reg, rm, imm. */
    static final class Imul extends Ops.Op {
        final int dst;
        final int src;
        final boolean hasImm;
        final long imm;
        final int size;

        Imul(Insn in) {
            super(in.len);
            dst = in.reg;
            src = in.rm;
            hasImm = in.hasImm;
            imm = in.imm;
            size = in.size;
        }

        @Override
        void exec(DecodedPath c) {
            long[] r = c.r;
            long a = Flags.sext(hasImm ? r[src] : r[dst], size);
            long b = hasImm ? imm : Flags.sext(r[src], size);
            r[dst] = c.imulFast(a, b, size);
            done(c, c.rip + len);
        }
    }

    /** INC or DEC of a register. */
    static final class IncDec extends Ops.Op {
        final int which;
        final int dst;
        final int size;

        IncDec(Insn in) {
            super(in.len);
            which = in.sub;
            dst = in.rm;
            size = in.size;
        }

        @Override
        void exec(DecodedPath c) {
            long[] r = c.r;
            r[dst] = c.incDecFast(which, r[dst], size);
            done(c, c.rip + len);
        }
    }

    /** INC or DEC of memory. */
    static final class IncDecMem extends Ops.MemOp {
        final int size;

        IncDecMem(Insn in) {
            super(in);
            size = in.size;
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            long ea = ea(c, next);
            long res = c.incDecFast(op, c.rd(ea, size), size);
            c.wr(ea, size, res);
            done(c, next);
        }
    }

    /** NOT or NEG of a register. */
    static final class NotNeg extends Ops.Op {
        final int which;
        final int dst;
        final int size;
        final long mask;

        NotNeg(Insn in) {
            super(in.len);
            which = in.sub;
            dst = in.rm;
            size = in.size;
            mask = Flags.mask(size);
        }

        @Override
        void exec(DecodedPath c) {
            long[] r = c.r;
            r[dst] = c.group3Fast(which, r[dst] & mask, size);
            done(c, c.rip + len);
        }
    }

    /** SETcc of a byte register: without REX, 4 to 7 are AH, CH, DH and BH. */
    static final class Setcc extends Ops.Op {
        final int cc;
        final int at;
        final int shift;

        Setcc(Insn in) {
            super(in.len);
            cc = in.sub;
            at = CpuState.byteRegHome(in.rm, in.rex);
            shift = CpuState.byteRegShift(in.rm, in.rex);
        }

        @Override
        void exec(DecodedPath c) {
            long v = c.condFast(cc) ? 1 : 0;
            long[] r = c.r;
            r[at] = (r[at] & ~(0xffL << shift)) | (v << shift);
            done(c, c.rip + len);
        }
    }

    /** CMOVcc of registers: a 4-byte destination is zero-extended whether or not it moves. */
    static final class Cmov extends Ops.Op {
        final int cc;
        final int dst;
        final int src;
        final long mask;

        Cmov(Insn in) {
            super(in.len);
            cc = in.sub;
            dst = in.reg;
            src = in.rm;
            mask = Flags.mask(in.size);
        }

        @Override
        void exec(DecodedPath c) {
            long[] r = c.r;
            r[dst] = (c.condFast(cc) ? r[src] : r[dst]) & mask;
            done(c, c.rip + len);
        }
    }

    /** A register shifted or rotated by CL. */
    static final class ShiftCl extends Ops.Op {
        final int op;
        final int dst;
        final int size;
        final long mask;

        ShiftCl(Insn in) {
            super(in.len);
            op = in.sub;
            dst = in.rm;
            size = in.size;
            mask = Flags.mask(size);
        }

        @Override
        void exec(DecodedPath c) {
            long[] r = c.r;
            r[dst] = c.shiftFast(op, r[dst] & mask, (int) r[X86Vcpu.RCX] & 0xff, size) & mask;
            done(c, c.rip + len);
        }
    }
}
