package io.cloister.cpu.x86;

/**
 * {@link Ops} shapes for the SSE2 forms the decoder leaves to the interpreter that the Linux
 * boot's traces ran most (session 17: busybox's string functions and the kernel's copies): 128-bit
 * moves between XMM registers and memory (MOVDQA/MOVDQU, MOVAPS/MOVAPD, MOVUPS/MOVUPD; about 0.7 M
 * times), PXOR/POR/PAND/PCMPEQ and other lane-wise packed-integer forms (0.9 M), PMOVMSKB (0.2 M),
 * each about 100 ns through the interpreter there. Each checks what the interpreter checks
 * ({@code sseCheck}: #UD without OSFXSR or under CR0.EM, #NM under CR0.TS; #GP for a misaligned
 * aligned form) in the same order, and uses its helpers (read16/write16, PackedInt).
 */
final class SseOps {
    private SseOps() {
    }

    /** The op of 0F {@code d.op} with its prefixes, or null for the general switch. */
    static Ops.Op of(int len, Decoder d) {
        boolean p66 = d.p66 && d.rep == 0;
        boolean f3 = d.rep == 0xf3;
        boolean np = !d.p66 && d.rep == 0;
        int op = d.op;
        return switch (op) {
            case 0x6f, 0x7f -> p66 || f3 ? move(len, d, op == 0x6f, p66) : null; // MOVDQA, MOVDQU
            case 0x28, 0x29 -> np || p66 ? move(len, d, op == 0x28, true) : null; // MOVAPS, MOVAPD
            case 0x10, 0x11 -> np || p66 ? move(len, d, op == 0x10, false) : null; // MOVUPS, MOVUPD
            case 0xd7 -> p66 && d.modIsReg ? new Pmovmskb(len, d.reg, d.rm) : null;
            case 0xef, 0xeb, 0xdb, 0xdf, 0x74, 0x75, 0x76, 0x64, 0x65, 0x66, 0xfc, 0xfd, 0xfe, 0xd4, 0xf8, 0xf9, 0xfa, 0xfb, 0xda, 0xde ->
                p66 && PackedInt.isLanes(op) ? new Lanes(len, d, op) : null;
            default -> null;
        };
    }

    private static Ops.Op move(int len, Decoder d, boolean load, boolean aligned) {
        if (d.modIsReg) {
            return load ? new MoveRR(len, d.reg, d.rm) : new MoveRR(len, d.rm, d.reg);
        }
        return load ? new Load(len, d, aligned) : new Store(len, d, aligned);
    }

    /** xmm[to] &lt;- xmm[from]. */
    static final class MoveRR extends Ops.Op {
        final int to;
        final int from;

        MoveRR(int len, int to, int from) {
            super(len);
            this.to = 2 * to;
            this.from = 2 * from;
        }

        @Override
        void exec(DecodedPath c) {
            c.sseCheck();
            long[] x = c.fpu.xmm;
            x[to] = x[from];
            x[to + 1] = x[from + 1];
            done(c, c.rip + len);
        }
    }

    /** A 16-byte access; an aligned form's #GP unless the address is a multiple of 16. */
    abstract static class Wide extends Ops.MemOp {
        final boolean aligned;

        Wide(int len, Decoder d, boolean aligned) {
            super(len, d);
            this.aligned = aligned;
        }
    }

    /** xmm &lt;- m128. */
    static final class Load extends Wide {
        Load(int len, Decoder d, boolean aligned) {
            super(len, d, aligned);
        }

        @Override
        void exec(DecodedPath c) {
            c.sseCheck();
            long next = c.rip + len;
            long[] v = new long[2];
            c.read16(ea(c, next), aligned, v);
            long[] x = c.fpu.xmm;
            x[2 * reg] = v[0];
            x[2 * reg + 1] = v[1];
            done(c, next);
        }
    }

    /** m128 &lt;- xmm. */
    static final class Store extends Wide {
        Store(int len, Decoder d, boolean aligned) {
            super(len, d, aligned);
        }

        @Override
        void exec(DecodedPath c) {
            c.sseCheck();
            long next = c.rip + len;
            long[] x = c.fpu.xmm;
            c.write16(ea(c, next), aligned, x[2 * reg], x[2 * reg + 1]);
            done(c, next);
        }
    }

    /** xmm op= xmm/m128 (aligned), lane by lane (PackedInt.lanes). */
    static final class Lanes extends Ops.MemOp {
        final int which;
        final int src; // -1: memory

        Lanes(int len, Decoder d, int which) {
            super(len, d);
            this.which = which;
            this.src = d.modIsReg ? 2 * d.rm : -1;
        }

        @Override
        void exec(DecodedPath c) {
            c.sseCheck();
            long next = c.rip + len;
            long[] x = c.fpu.xmm;
            long b0;
            long b1;
            if (src >= 0) {
                b0 = x[src];
                b1 = x[src + 1];
            } else {
                long[] v = new long[2];
                c.read16(ea(c, next), true, v);
                b0 = v[0];
                b1 = v[1];
            }
            int d = 2 * reg;
            x[d] = PackedInt.lanes(which, x[d], b0);
            x[d + 1] = PackedInt.lanes(which, x[d + 1], b1);
            done(c, next);
        }
    }

    /** PMOVMSKB r32, xmm: the top bit of each byte, zero-extended. */
    static final class Pmovmskb extends Ops.Op {
        final int to;
        final int from;

        Pmovmskb(int len, int to, int from) {
            super(len);
            this.to = to;
            this.from = 2 * from;
        }

        @Override
        void exec(DecodedPath c) {
            c.sseCheck();
            long[] x = c.fpu.xmm;
            c.setReg(to, 4, PackedInt.byteSigns(x[from]) | PackedInt.byteSigns(x[from + 1]) << 8);
            done(c, c.rip + len);
        }
    }
}
