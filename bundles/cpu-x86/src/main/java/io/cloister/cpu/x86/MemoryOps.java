package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.CpuState.byteReg;

/**
 * More {@link Ops} shapes, for memory operands: the forms that, counted in the Linux boot's traces
 * after RegisterOps' (session 17), the general switch ran most, at about 70 ns each there: ALU of
 * memory and an immediate (1.1 M), byte loads and byte ALU with memory (0.8 M), TEST of memory
 * (0.2 M), CALL and JMP through memory (0.3 M). Each does what {@code DecodedPath.execDecoded}
 * does for its form, with the same helpers (the TLB, lazy flags); a byte register is one of
 * AH..BH or SPL..DIL as the instruction's REX says ({@link CpuState#highByte}).
 */
final class MemoryOps {
    private MemoryOps() {
    }

    /** memory op= imm, 1, 2, 4 or 8 bytes: read, then written back unless it is CMP. */
    static final class AluMI extends Ops.MemOp {
        final int size;

        AluMI(Insn in) {
            super(in);
            size = in.size;
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            long ea = ea(c, next);
            long res = c.aluFast(op, c.rd(ea, size), imm, size);
            if (op != 7) {
                c.wr(ea, size, res);
            }
            done(c, next);
        }
    }

    /** A form whose destination is a byte register: AH..BH are the second byte of RAX..RBX, by the instruction's REX. */
    abstract static class ToByteReg extends Ops.MemOp {
        private final int at;
        private final int shift;

        ToByteReg(Insn in) {
            super(in);
            at = CpuState.byteRegHome(in.reg, in.rex);
            shift = CpuState.byteRegShift(in.reg, in.rex);
        }

        final long byteValue(long[] r) {
            return (r[at] >>> shift) & 0xff;
        }

        /** The rest of the register is kept. */
        final void setByte(long[] r, long v) {
            r[at] = (r[at] & ~(0xffL << shift)) | ((v & 0xff) << shift);
        }
    }

    /** A byte register &lt;- a byte of memory. */
    static final class LoadByte extends ToByteReg {
        LoadByte(Insn in) {
            super(in);
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            setByte(c.r, c.rd(ea(c, next), 1));
            done(c, next);
        }
    }

    /** A byte register op= a byte of memory. */
    static final class AluRMByte extends ToByteReg {
        AluRMByte(Insn in) {
            super(in);
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            long[] r = c.r;
            long res = c.aluFast(op, byteValue(r), c.rd(ea(c, next), 1), 1);
            if (op != 7) {
                setByte(r, res);
            }
            done(c, next);
        }
    }

    /** A byte of memory op= a byte register: read, then written back unless it is CMP. */
    static final class AluMRByte extends Ops.MemOp {
        AluMRByte(Insn in) {
            super(in);
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            long ea = ea(c, next);
            long res = c.aluFast(op, c.rd(ea, 1), byteReg(c.r, reg, rex), 1);
            if (op != 7) {
                c.wr(ea, 1, res);
            }
            done(c, next);
        }
    }

    /** 64-bit code: CALL through a quadword of memory (the target read before the push, as the general switch does). */
    static final class CallMem extends Ops.MemOp {
        CallMem(Insn in) {
            super(in);
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            long t = c.rd(ea(c, next), 8);
            c.push(next, 8);
            done(c, t);
        }
    }

    /** 64-bit code: JMP through a quadword of memory. */
    static final class JmpMem extends Ops.MemOp {
        JmpMem(Insn in) {
            super(in);
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            done(c, c.rd(ea(c, next), 8));
        }
    }
}
