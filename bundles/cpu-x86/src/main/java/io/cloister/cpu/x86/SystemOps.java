package io.cloister.cpu.x86;

/**
 * {@link Ops} shapes for forms the decoder leaves to the interpreter (GENERIC entries) that the
 * Linux boot's traces ran most, each about 100-150 ns through the interpreter there against a few
 * ns as an op (session 17): PUSHF 0.34 M times (native_save_fl), CLI 0.26 M and STI 0.13 M, MOV
 * from a segment register 0.21 M and PUSH of an immediate 0.1 M (sync_core's IRET to itself, after
 * each of text_poke_early's patches), POPF 0.07 M. In 64-bit code, without an operand-size, REP or
 * LOCK prefix; each calls the interpreter's own helper for its semantics. An instruction that may
 * let an interrupt in (STI; POPF that sets IF) ends its trace, so that the vCPU loop looks at
 * interrupts where the interpreter would let it: after STI's shadow, right after POPF.
 */
final class SystemOps {
    private SystemOps() {
    }

    /**
     * The op of a GENERIC entry that a compiled block may run in its middle (BlockCompiler.blockOp),
     * or null: the SSE2 forms, PUSH of an immediate, MOV from a segment register, PUSHF and CLI.
     * Not STI or POPF, which end a trace so that interrupts are looked at after them (a block looks
     * only at its back edges and its end), nor SERIALIZE, after which the block itself may be of code dropped.
     */
    static Ops.Op inBlock(Insn in) {
        Ops.Op op = of(in);
        return op instanceof Sti || op instanceof Popf || op instanceof Serialize ? null : op;
    }

    /** The op of a GENERIC entry, or null for the general switch (Ops.Slow). */
    static Ops.Op of(Insn in) {
        Decoder d = in.shape;
        if (d == null || !in.code64 || d.undefined || d.lock) {
            return null;
        }
        if (SystemInsns.isSerialize(d)) {
            return new Serialize(in.len);
        }
        if (d.map == Decoder.MAP_0F) {
            return SseOps.of(in.len, d);
        }
        if (d.rep != 0 || d.opsize == 2 || d.map != Decoder.MAP_ONE) {
            return null;
        }
        return switch (d.op) {
            case 0x9c -> new Pushf(in.len);
            case 0x9d -> new Popf(in.len);
            case 0xfa -> new Cli(in.len);
            case 0xfb -> new Sti(in.len);
            case 0x68, 0x6a -> new PushImm(in.len, d.simm());
            case 0x8c -> d.modIsReg && (d.reg & 7) <= 5 ? new MovFromSreg(in.len, d.rm, d.reg & 7, d.opsize) : null;
            default -> null;
        };
    }

    static final class Pushf extends Ops.Op {
        Pushf(int len) {
            super(len);
        }

        @Override
        void exec(DecodedPath c) {
            c.materialize();
            c.push(c.pushfImage(), 8);
            done(c, c.rip + len);
        }
    }

    static final class Popf extends Ops.Op {
        Popf(int len) {
            super(len);
        }

        @Override
        void exec(DecodedPath c) {
            c.materialize(); // the arithmetic flags are replaced whole
            boolean masked = (c.rflags & Flags.IF) == 0;
            c.popf(c.pop(8));
            if (masked && (c.rflags & Flags.IF) != 0) {
                c.retired++; // interrupts may come in now: the trace ends here
                c.rip += len;
                return;
            }
            done(c, c.rip + len);
        }
    }

    static final class Cli extends Ops.Op {
        Cli(int len) {
            super(len);
        }

        @Override
        void exec(DecodedPath c) {
            c.cli();
            done(c, c.rip + len);
        }
    }

    static final class Sti extends Ops.Op {
        Sti(int len) {
            super(len);
        }

        @Override
        void exec(DecodedPath c) {
            c.sti();
            c.retired++; // the trace ends: the next dispatch runs the shadowed instruction alone
            c.rip += len;
        }
    }

    /**
     * SERIALIZE (Linux's sync_core): sees code other vCPUs wrote (SystemInsns.serialize), and ends
     * the trace, whose next ops may be of code dropped just now.
     */
    static final class Serialize extends Ops.Op {
        Serialize(int len) {
            super(len);
        }

        @Override
        void exec(DecodedPath c) {
            c.serialize();
            c.retired++;
            c.rip += len;
        }
    }

    static final class PushImm extends Ops.Op {
        final long imm;

        PushImm(int len, long imm) {
            super(len);
            this.imm = imm;
        }

        @Override
        void exec(DecodedPath c) {
            c.push(imm, 8);
            done(c, c.rip + len);
        }
    }

    /** MOV of a segment register's selector into a register of 4 or 8 bytes (zero-extended). */
    static final class MovFromSreg extends Ops.Op {
        final int rm;
        final int sreg;
        final int size;

        MovFromSreg(int len, int rm, int sreg, int size) {
            super(len);
            this.rm = rm;
            this.sreg = sreg;
            this.size = size;
        }

        @Override
        void exec(DecodedPath c) {
            c.setReg(rm, size, sreg == 1 ? c.csSelector() : c.sreg[sreg]);
            done(c, c.rip + len);
        }
    }
}
