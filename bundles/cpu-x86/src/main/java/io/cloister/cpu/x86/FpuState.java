package io.cloister.cpu.x86;

/**
 * The x87, MMX and SSE state of a vCPU, as FXSAVE lays it out (SDM vol. 1, 10.5.1): the eight
 * 80-bit x87 registers (exactly: sign and exponent, 64-bit significand), control, status and tag
 * words, MXCSR and the sixteen XMM registers. MMX registers are the x87 registers' significands.
 * One object referenced from the vCPU state; the instructions live in {@link FpuInsns},
 * {@link X87Insns} and {@link SseInsns}.
 */
final class FpuState {
    static final int FCW_INIT = 0x037f;
    static final int MXCSR_INIT = 0x1f80;
    /** The MXCSR bits this CPU has (DAZ included): FXSAVE reports it, FXRSTOR and LDMXCSR refuse others with #GP. */
    static final int MXCSR_MASK = 0xffff;

    /** Physical register i: significand with its explicit integer bit, and sign << 15 | biased exponent. */
    final long[] st = new long[8];
    final int[] se = new int[8];
    int fcw = FCW_INIT;
    /** The status word without TOP (bits 13:11), which {@link #top} holds. */
    int fsw;
    int top;
    /** Bit i set: physical register i holds a value (FXSAVE's abridged tag word). */
    int tags;
    int mxcsr = MXCSR_INIT;
    /** XMM n: bits 63:0 at 2n, bits 127:64 at 2n + 1. */
    final long[] xmm = new long[32];
    final SoftFloat sf = new SoftFloat();

    /** FNINIT: control word 037F, status and tags cleared (MXCSR and XMM untouched). */
    void init() {
        fcw = FCW_INIT;
        fsw = 0;
        top = 0;
        tags = 0;
    }

    int status() {
        return (fsw & ~0x3800) | (top << 11);
    }

    void setStatus(int v) {
        fsw = v & ~0x3800 & 0xffff;
        top = (v >>> 11) & 7;
    }

    /** The physical register of ST(i). */
    int phys(int i) {
        return (top + i) & 7;
    }

    /** The full tag word (FSTENV/FNSAVE): 00 valid, 01 zero, 10 special, 11 empty, per physical register. */
    int fullTags() {
        int w = 0;
        for (int i = 0; i < 8; i++) {
            int t;
            if ((tags & (1 << i)) == 0) {
                t = 3;
            } else {
                int e = se[i] & 0x7fff;
                if (e == 0x7fff || e != 0 && st[i] >= 0) {
                    t = 2; // NaN, infinity, unsupported
                } else if (e == 0) {
                    t = st[i] == 0 ? 1 : 2; // zero, or denormal
                } else {
                    t = 0;
                }
            }
            w |= t << (2 * i);
        }
        return w;
    }

    /** Loads the abridged tags from a full tag word: every non-empty register is in use. */
    void setFullTags(int w) {
        tags = 0;
        for (int i = 0; i < 8; i++) {
            if (((w >>> (2 * i)) & 3) != 3) {
                tags |= 1 << i;
            }
        }
    }

    /**
     * The FXSAVE image's first 416 bytes (the rest is reserved or the software's): FCW, FSW, the
     * abridged FTW, FOP/FIP/FDP (zero: this CPU records no last instruction, as AMD's do without a
     * pending exception), MXCSR and its mask, ST0-ST7 in stack order, XMM0-XMM15 ({@code xmmCount} of them).
     */
    byte[] save(int xmmCount) {
        byte[] b = new byte[416];
        put(b, 0, fcw, 2);
        put(b, 2, status(), 2);
        b[4] = (byte) tags;
        put(b, 24, mxcsr, 4);
        put(b, 28, MXCSR_MASK, 4);
        for (int i = 0; i < 8; i++) {
            int p = phys(i);
            put(b, 32 + 16 * i, st[p], 8);
            put(b, 40 + 16 * i, se[p], 2);
        }
        for (int i = 0; i < 2 * xmmCount; i++) {
            put(b, 160 + 8 * i, xmm[i], 8);
        }
        return b;
    }

    /** FXRSTOR from an image save() wrote (MXCSR already checked). */
    void restore(byte[] b, int xmmCount) {
        fcw = (int) get(b, 0, 2);
        setStatus((int) get(b, 2, 2));
        tags = b[4] & 0xff;
        mxcsr = (int) get(b, 24, 4);
        for (int i = 0; i < 8; i++) {
            int p = phys(i);
            st[p] = get(b, 32 + 16 * i, 8);
            se[p] = (int) get(b, 40 + 16 * i, 2);
        }
        for (int i = 0; i < 2 * xmmCount; i++) {
            xmm[i] = get(b, 160 + 8 * i, 8);
        }
    }

    static void put(byte[] b, int off, long v, int n) {
        for (int i = 0; i < n; i++) {
            b[off + i] = (byte) (v >>> (8 * i));
        }
    }

    static long get(byte[] b, int off, int n) {
        long v = 0;
        for (int i = 0; i < n; i++) {
            v |= (b[off + i] & 0xffL) << (8 * i);
        }
        return v;
    }

    // ---------------------------------------------------------------- MMX

    /** An MMX instruction: TOP is 0 and every register is in use (SDM vol. 1, 9.5.1). */
    void enterMmx() {
        top = 0;
        tags = 0xff;
    }

    long mm(int i) {
        return st[i & 7];
    }

    /** A write to MMX register i sets the exponent and sign bits of its x87 register to ones. */
    void setMm(int i, long v) {
        st[i & 7] = v;
        se[i & 7] = 0xffff;
    }
}
