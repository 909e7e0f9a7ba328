package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.CpuState.byteReg;

/**
 * The decoded path's instructions as objects of their own shape ({@link Op}), made once per decoded
 * entry from its {@link FastForms} form: each op runs with one virtual call, made by the op before
 * it in the trace ({@link Op#done}), and loads only the operands its shape has. One switch over
 * every form made the JIT load the fields its cases share before the switch, about fifteen loads
 * and their spills for every instruction whatever its form; and an Op is a third of an
 * {@link Insn}'s size, made in trace order, so a trace's ops sit together in memory. Forms without
 * a shape here run through the general switch ({@link Slow}). Each op completes its instruction
 * (rip and the count advance) or faults, leaving both as they were.
 */
final class Ops {
    private Ops() {
    }

    abstract static class Op {
        final int len;

        Op(int len) {
            this.len = len;
        }

        /**
         * The op of the instruction after this one, linked when a trace through both is made
         * (DecodedPath.trace); null where a trace ends after this one, or none has been made on.
         */
        Op follow;

        abstract void exec(DecodedPath c);

        /**
         * Completes the instruction (rip and the count advance), then runs the next op of the
         * trace if this instruction went straight on to it, no write hit code or MMIO, and the
         * trace has ops left. The next op is called from here, inlined into each op's own code,
         * instead of from one loop over the trace: the boot's vCPU time fell by about a tenth
         * (benchmarks/results/2026-12-02-session13-speed.md). The calls still pass through the
         * JVM's one vtable stub for exec, whose indirect jump every op shares.
         */
        final void done(DecodedPath c, long next) {
            boolean straight = next == c.rip + len;
            c.retired++;
            c.rip = next;
            goOn(c, straight);
        }

        final void goOn(DecodedPath c, boolean straight) {
            Op f = follow;
            if (straight && f != null) {
                // The trace's length limit and its stop in one test: as a test of its own, the limit
                // was rarely reached while the JIT compiled the ops, so it became a trap, and the
                // first long trace deoptimized every op class that had inlined it. One Linux boot
                // with JFR: 19 deoptimizations in goOn before, 8 after (the boot's 144 -> 133).
                int left = --c.traceLeft;
                if ((c.blockStop ? 0 : left) > 0) {
                    f.exec(c);
                }
            }
        }
    }

    /** The op of a decoded entry. */
    static Op of(Insn in) {
        if (in.kind == Insn.GENERIC) {
            Op g = SystemOps.of(in);
            return g != null ? g : new Slow(in);
        }
        int len = in.len;
        long imm = in.imm;
        int op = in.sub;
        return switch (in.form) {
            case FastForms.JCC -> new Jcc(len, op, imm);
            case FastForms.JMP -> new Jmp(len, imm);
            case FastForms.NOP -> new Nop(len);
            case FastForms.MOV_RR8 -> new MovRR(len, in.rm, in.reg, -1L);
            case FastForms.MOV_RR4 -> new MovRR(len, in.rm, in.reg, 0xffffffffL);
            case FastForms.MOV_RR8_REV -> new MovRR(len, in.reg, in.rm, -1L);
            case FastForms.MOV_RR4_REV -> new MovRR(len, in.reg, in.rm, 0xffffffffL);
            case FastForms.MOVZX_R2 -> new MovRR(len, in.reg, in.rm, 0xffffL);
            case FastForms.MOV_RI8 -> new MovRI(len, in.rm, imm);
            case FastForms.MOV_RI4 -> new MovRI(len, in.rm, imm & 0xffffffffL);
            case FastForms.MOVZX_R1 -> new MovzxByte(len, in.reg, in.rm, in.rex);
            case FastForms.MOVSXD_R -> new MovsxdR(len, in.reg, in.rm);
            case FastForms.LOAD8 -> new Load(in, 8);
            case FastForms.LOAD4 -> new Load(in, 4);
            case FastForms.MOVZX_M1 -> new Load(in, 1);
            case FastForms.MOVZX_M2 -> new Load(in, 2);
            case FastForms.MOVSXD_M -> new LoadSx4(in);
            case FastForms.STORE8 -> new Store(in, 8);
            case FastForms.STORE4 -> new Store(in, 4);
            case FastForms.STORE1 -> new StoreByte(in);
            case FastForms.MOV_MI8 -> new StoreImm(in, 8);
            case FastForms.MOV_MI4 -> new StoreImm(in, 4);
            case FastForms.MOV_MI1 -> new StoreImm(in, 1);
            case FastForms.LEA8 -> new Lea(in, -1L);
            case FastForms.LEA4 -> new Lea(in, 0xffffffffL);
            case FastForms.ALU_RR8 -> new AluRR(len, op, op != 7, in.rm, in.reg, 8);
            case FastForms.ALU_RR4 -> new AluRR(len, op, op != 7, in.rm, in.reg, 4);
            case FastForms.TEST_RR8 -> new AluRR(len, 4, false, in.rm, in.reg, 8);
            case FastForms.TEST_RR4 -> new AluRR(len, 4, false, in.rm, in.reg, 4);
            case FastForms.ALU_RI8 -> new AluRI(len, op, op != 7, in.rm, imm, 8);
            case FastForms.ALU_RI4 -> new AluRI(len, op, op != 7, in.rm, imm, 4);
            case FastForms.TEST_RI8 -> new AluRI(len, 4, false, in.rm, imm, 8);
            case FastForms.TEST_RI4 -> new AluRI(len, 4, false, in.rm, imm, 4);
            case FastForms.TEST_RR1 -> new FlagsByte(len, 4, in.rm, in.reg, 0, in.rex);
            case FastForms.TEST_RI1 -> new FlagsByte(len, 4, in.rm, -1, imm, in.rex);
            case FastForms.CMP_RI1 -> new FlagsByte(len, 7, in.rm, -1, imm, in.rex);
            case FastForms.TEST_MI1 -> new FlagsMem(in, 4, 1);
            case FastForms.CMP_MI8 -> new FlagsMem(in, 7, 8);
            case FastForms.CMP_MI4 -> new FlagsMem(in, 7, 4);
            case FastForms.CMP_MI1 -> new FlagsMem(in, 7, 1);
            case FastForms.ALU_RM8 -> new AluRM(in, 8);
            case FastForms.ALU_RM4 -> new AluRM(in, 4);
            case FastForms.ALU_MR8 -> new AluMR(in, 8);
            case FastForms.ALU_MR4 -> new AluMR(in, 4);
            case FastForms.SHIFT_RI8 -> new ShiftRI(len, op, in.rm, (int) imm, 8);
            case FastForms.SHIFT_RI4 -> new ShiftRI(len, op, in.rm, (int) imm, 4);
            case FastForms.PUSH8 -> new Push8(len, in.reg);
            case FastForms.POP8 -> new Pop8(len, in.reg);
            case FastForms.CALL8 -> new Call8(len, imm);
            case FastForms.RET8 -> new Ret8(len);
            case FastForms.SHIFT_RC -> new RegisterOps.ShiftCl(in);
            case FastForms.STORE2 -> new Store(in, 2);
            case FastForms.TEST_MI8 -> new FlagsMem(in, 4, 8);
            case FastForms.TEST_MI4 -> new FlagsMem(in, 4, 4);
            case FastForms.ALU_MI -> new MemoryOps.AluMI(in);
            case FastForms.LOAD1 -> new MemoryOps.LoadByte(in);
            case FastForms.ALU_RM1 -> new MemoryOps.AluRMByte(in);
            case FastForms.ALU_MR1 -> new MemoryOps.AluMRByte(in);
            case FastForms.CALL_M8 -> new MemoryOps.CallMem(in);
            case FastForms.JMP_M8 -> new MemoryOps.JmpMem(in);
            case FastForms.IMUL_R -> new RegisterOps.Imul(in);
            case FastForms.INC_DEC_R -> new RegisterOps.IncDec(in);
            case FastForms.INC_DEC_M -> new RegisterOps.IncDecMem(in);
            case FastForms.NOT_NEG_R -> new RegisterOps.NotNeg(in);
            case FastForms.SETCC_R -> new RegisterOps.Setcc(in);
            case FastForms.CMOV_RR -> new RegisterOps.Cmov(in);
            default -> new Slow(in);
        };
    }

    /** Every other form: the general switch (DecodedPath.execDecoded), or the interpreter behind it. */
    static final class Slow extends Op {
        final Insn in;

        Slow(Insn in) {
            super(in.len);
            this.in = in;
        }

        @Override
        void exec(DecodedPath c) {
            long fallThrough = c.rip + len;
            c.execDecoded(in);
            goOn(c, c.rip == fallThrough);
        }
    }

    static final class Nop extends Op {
        Nop(int len) {
            super(len);
        }

        @Override
        void exec(DecodedPath c) {
            done(c, c.rip + len);
        }
    }

    static final class Jcc extends Op {
        final int cc;
        final long rel;

        Jcc(int len, int cc, long rel) {
            super(len);
            this.cc = cc;
            this.rel = rel;
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            if (c.condFast(cc)) {
                next = c.target(next + rel);
            }
            done(c, next);
        }
    }

    static final class Jmp extends Op {
        final long rel;

        Jmp(int len, long rel) {
            super(len);
            this.rel = rel;
        }

        @Override
        void exec(DecodedPath c) {
            done(c, c.target(c.rip + len + rel));
        }
    }

    /** 64-bit code: the targets need no truncation. */
    static final class Call8 extends Op {
        final long rel;

        Call8(int len, long rel) {
            super(len);
            this.rel = rel;
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            c.push(next, 8);
            done(c, next + rel);
        }
    }

    static final class Ret8 extends Op {
        Ret8(int len) {
            super(len);
        }

        @Override
        void exec(DecodedPath c) {
            done(c, c.pop(8));
        }
    }

    static final class Push8 extends Op {
        final int reg;

        Push8(int len, int reg) {
            super(len);
            this.reg = reg;
        }

        @Override
        void exec(DecodedPath c) {
            c.push(c.r[reg], 8);
            done(c, c.rip + len);
        }
    }

    static final class Pop8 extends Op {
        final int reg;

        Pop8(int len, int reg) {
            super(len);
            this.reg = reg;
        }

        @Override
        void exec(DecodedPath c) {
            long v = c.pop(8);
            c.r[reg] = v;
            done(c, c.rip + len);
        }
    }

    /** dst &lt;- src &amp; mask: MOV of 8 or 4 bytes, MOVZX of a word. */
    static final class MovRR extends Op {
        final int dst;
        final int src;
        final long mask;

        MovRR(int len, int dst, int src, long mask) {
            super(len);
            this.dst = dst;
            this.src = src;
            this.mask = mask;
        }

        @Override
        void exec(DecodedPath c) {
            long[] r = c.r;
            r[dst] = r[src] & mask;
            done(c, c.rip + len);
        }
    }

    static final class MovRI extends Op {
        final int dst;
        final long value;

        MovRI(int len, int dst, long value) {
            super(len);
            this.dst = dst;
            this.value = value;
        }

        @Override
        void exec(DecodedPath c) {
            c.r[dst] = value;
            done(c, c.rip + len);
        }
    }

    static final class MovzxByte extends Op {
        final int dst;
        final int src;
        final boolean rex;

        MovzxByte(int len, int dst, int src, boolean rex) {
            super(len);
            this.dst = dst;
            this.src = src;
            this.rex = rex;
        }

        @Override
        void exec(DecodedPath c) {
            long[] r = c.r;
            r[dst] = byteReg(r, src, rex);
            done(c, c.rip + len);
        }
    }

    static final class MovsxdR extends Op {
        final int dst;
        final int src;

        MovsxdR(int len, int dst, int src) {
            super(len);
            this.dst = dst;
            this.src = src;
        }

        @Override
        void exec(DecodedPath c) {
            long[] r = c.r;
            r[dst] = (int) r[src];
            done(c, c.rip + len);
        }
    }

    /**
     * An op with a memory operand: its address by the rule of {@link Operands#offset}, the commonest
     * shape (a base register and a displacement, 64-bit addressing, no FS or GS) without the rest.
     */
    abstract static class MemOp extends Op {
        final int reg;
        final boolean rex;
        final int base;
        final int index;
        final int scale;
        final long disp;
        final boolean ripRelative;
        final long addressMask;
        final int seg;
        final long imm;
        final int op;
        private final boolean baseAndDisp;

        /** A memory operand as the decoder read it, for a form the decoder left to the interpreter (SseOps). */
        MemOp(int len, Decoder d) {
            this(len, d.reg, d.rexPresent, d.base, d.index, d.scale, d.disp, d.ripRelative, d.addressMask(), d.seg, 0, 0);
        }

        MemOp(Insn in) {
            this(in.len, in.reg, in.rex, in.base, in.index, in.scale, in.disp, in.ripRelative, in.addressMask, in.seg, in.imm, in.sub);
        }

        private MemOp(int len, int reg, boolean rex, int base, int index, int scale, long disp, boolean ripRelative, long addressMask,
                int seg, long imm, int op) {
            super(len);
            this.reg = reg;
            this.rex = rex;
            this.base = base;
            this.index = index;
            this.scale = scale;
            this.disp = disp;
            this.ripRelative = ripRelative;
            this.addressMask = addressMask;
            this.seg = seg;
            this.imm = imm;
            this.op = op;
            baseAndDisp = base >= 0 && index < 0 && !ripRelative && addressMask == -1L && seg == X86Vcpu.SEG_NONE;
        }

        /** The operand's linear address; {@code next} is the instruction's end. */
        final long ea(DecodedPath c, long next) {
            return baseAndDisp ? c.r[base] + disp : offset(c, next) + c.segBase(seg);
        }

        /** The operand's offset, without a segment base (LEA's result). */
        final long offset(DecodedPath c, long next) {
            return Operands.offset(c.r, base, index, scale, disp, ripRelative, next, addressMask);
        }
    }

    /** reg &lt;- memory, zero-extended from 1, 2 or 4 bytes (MOV, MOVZX). */
    static final class Load extends MemOp {
        final int size;
        final long mask;

        Load(Insn in, int size) {
            super(in);
            this.size = size;
            this.mask = Flags.mask(size);
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            long v = c.rd(ea(c, next), size);
            c.r[reg] = v & mask;
            done(c, next);
        }
    }

    static final class LoadSx4 extends MemOp {
        LoadSx4(Insn in) {
            super(in);
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            long v = c.rd(ea(c, next), 4);
            c.r[reg] = (int) v;
            done(c, next);
        }
    }

    static final class Store extends MemOp {
        final int size;

        Store(Insn in, int size) {
            super(in);
            this.size = size;
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            c.wr(ea(c, next), size, c.r[reg]);
            done(c, next);
        }
    }

    static final class StoreByte extends MemOp {
        StoreByte(Insn in) {
            super(in);
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            c.wr(ea(c, next), 1, byteReg(c.r, reg, rex));
            done(c, next);
        }
    }

    static final class StoreImm extends MemOp {
        final int size;

        StoreImm(Insn in, int size) {
            super(in);
            this.size = size;
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            c.wr(ea(c, next), size, imm);
            done(c, next);
        }
    }

    /** LEA: the offset alone, no segment base. */
    static final class Lea extends MemOp {
        final long mask;

        Lea(Insn in, long mask) {
            super(in);
            this.mask = mask;
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            c.r[reg] = offset(c, next) & mask;
            done(c, next);
        }
    }

    /** dst op= src of 8 or 4 bytes; CMP and TEST ({@code writes} false) only set the flags. */
    static final class AluRR extends Op {
        final int op;
        final boolean writes;
        final int dst;
        final int src;
        final int size;
        final long mask;

        AluRR(int len, int op, boolean writes, int dst, int src, int size) {
            super(len);
            this.op = op;
            this.writes = writes;
            this.dst = dst;
            this.src = src;
            this.size = size;
            this.mask = Flags.mask(size);
        }

        @Override
        void exec(DecodedPath c) {
            long[] r = c.r;
            long res = c.aluFast(op, r[dst] & mask, r[src] & mask, size);
            if (writes) {
                r[dst] = res;
            }
            done(c, c.rip + len);
        }
    }

    /** dst op= imm (the immediate masked to the size); CMP and TEST ({@code writes} false) only set the flags. */
    static final class AluRI extends Op {
        final int op;
        final boolean writes;
        final int dst;
        final long imm;
        final int size;
        final long mask;

        AluRI(int len, int op, boolean writes, int dst, long imm, int size) {
            super(len);
            this.op = op;
            this.writes = writes;
            this.dst = dst;
            this.imm = imm;
            this.size = size;
            this.mask = Flags.mask(size);
        }

        @Override
        void exec(DecodedPath c) {
            long[] r = c.r;
            long res = c.aluFast(op, r[dst] & mask, imm, size);
            if (writes) {
                r[dst] = res;
            }
            done(c, c.rip + len);
        }
    }

    /** TEST or CMP of a byte register with a byte register ({@code b} &ge; 0) or an immediate: the flags alone. */
    static final class FlagsByte extends Op {
        final int op;
        final int a;
        final int b;
        final long imm;
        final boolean rex;

        FlagsByte(int len, int op, int a, int b, long imm, boolean rex) {
            super(len);
            this.op = op;
            this.a = a;
            this.b = b;
            this.imm = imm;
            this.rex = rex;
        }

        @Override
        void exec(DecodedPath c) {
            long[] r = c.r;
            c.aluFast(op, byteReg(r, a, rex), b >= 0 ? byteReg(r, b, rex) : imm, 1);
            done(c, c.rip + len);
        }
    }

    /** TEST or CMP of memory with an immediate: the flags alone. */
    static final class FlagsMem extends MemOp {
        final int which;
        final int size;

        FlagsMem(Insn in, int which, int size) {
            super(in);
            this.which = which;
            this.size = size;
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            c.aluFast(which, c.rd(ea(c, next), size), imm, size);
            done(c, next);
        }
    }

    /** reg op= memory. */
    static final class AluRM extends MemOp {
        final int size;
        final long mask;

        AluRM(Insn in, int size) {
            super(in);
            this.size = size;
            this.mask = Flags.mask(size);
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            long[] r = c.r;
            long res = c.aluFast(op, r[reg] & mask, c.rd(ea(c, next), size), size);
            if (op != 7) {
                r[reg] = res;
            }
            done(c, next);
        }
    }

    /** memory op= reg: read, then written back unless it is CMP. */
    static final class AluMR extends MemOp {
        final int size;
        final long mask;

        AluMR(Insn in, int size) {
            super(in);
            this.size = size;
            this.mask = Flags.mask(size);
        }

        @Override
        void exec(DecodedPath c) {
            long next = c.rip + len;
            long ea = ea(c, next);
            long res = c.aluFast(op, c.rd(ea, size), c.r[reg] & mask, size);
            if (op != 7) {
                c.wr(ea, size, res);
            }
            done(c, next);
        }
    }

    /** A register of 8 or 4 bytes shifted or rotated by an immediate count. */
    static final class ShiftRI extends Op {
        final int op;
        final int dst;
        final int count;
        final int size;
        final long mask;

        ShiftRI(int len, int op, int dst, int count, int size) {
            super(len);
            this.op = op;
            this.dst = dst;
            this.count = count;
            this.size = size;
            this.mask = Flags.mask(size);
        }

        @Override
        void exec(DecodedPath c) {
            long[] r = c.r;
            r[dst] = c.shiftFast(op, r[dst] & mask, count, size) & mask;
            done(c, c.rip + len);
        }
    }
}
