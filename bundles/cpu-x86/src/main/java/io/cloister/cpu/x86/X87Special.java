package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.SoftFloat.DE;
import static io.cloister.cpu.x86.SoftFloat.Fmt.DOUBLE;
import static io.cloister.cpu.x86.SoftFloat.Fmt.EXT;
import static io.cloister.cpu.x86.SoftFloat.IE;
import static io.cloister.cpu.x86.SoftFloat.PE;
import static io.cloister.cpu.x86.SoftFloat.ZE;

import java.math.BigInteger;

import io.cloister.cpu.x86.SoftFloat.Num;

/**
 * The x87's less common instructions: FRNDINT's rounding, FSCALE, FXTRACT, FPREM/FPREM1 (exact
 * remainders; a partial one when the exponents are 64 or more apart, C2 set), FBLD/FBSTP, and the
 * transcendentals F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS. Those are computed
 * with StrictMath in double precision and converted back: their results are within a few units of
 * the 53rd bit, not the last of the 64 (the SDM gives the hardware's error bounds; no CPU rounds
 * them correctly either, and they differ from each other).
 */
abstract class X87Special extends X87Arith {
    /** FRNDINT: to an integer under RC, in the extended format. */
    @Override
    long roundToInteger(SoftFloat sf, Num a) {
        if (a.kind != SoftFloat.FINITE || a.exp >= 0) {
            long m = sf.convert(EXT, a);
            return m;
        }
        if (a.denormal) {
            sf.flags |= DE;
        }
        BigInteger sig = SoftFloat.big(a.sig);
        int shift = -a.exp;
        BigInteger kept = shift >= 128 ? BigInteger.ZERO : sig.shiftRight(shift);
        boolean half = shift <= 128 && sig.testBit(shift - 1);
        boolean rest = shift > 128 || sig.getLowestSetBit() < shift - 1;
        boolean inc = switch (sf.rc) {
            case SoftFloat.RN -> half && (rest || kept.testBit(0));
            case SoftFloat.RU -> (half || rest) && !a.neg;
            case SoftFloat.RD -> (half || rest) && a.neg;
            default -> false;
        };
        if (inc) {
            kept = kept.add(BigInteger.ONE);
        }
        if (half || rest) {
            sf.flags |= PE;
        }
        sf.roundedUp = inc;
        if (kept.signum() == 0) {
            sf.se = a.neg ? 0x8000 : 0;
            return 0;
        }
        boolean savedInexact = (sf.flags & PE) != 0;
        long m = sf.round(EXT, a.neg, kept, 0, false);
        sf.roundedUp = inc;
        if (savedInexact) {
            sf.flags |= PE;
        }
        return m;
    }

    /** FSCALE: ST0 · 2^trunc(ST1). */
    @Override
    void fscale() {
        SoftFloat sf = x87Context(false);
        if (empty(0) || empty(1)) {
            if (stackFault(false)) {
                setSt(0, IND_M, IND_SE);
            }
            return;
        }
        Num a = num(sf, 0);
        Num s = num(sf, 1);
        long m;
        if (a.kind == SoftFloat.NAN || s.kind == SoftFloat.NAN || a.kind == SoftFloat.UNSUPPORTED || s.kind == SoftFloat.UNSUPPORTED) {
            m = sf.add(EXT, a, s, false, true); // NaN propagation, invalid for unsupported
        } else if (s.kind == SoftFloat.INF) {
            if (a.kind == SoftFloat.ZERO && !s.neg || a.kind == SoftFloat.INF && s.neg) {
                m = sf.invalid(EXT);
            } else if (a.kind == SoftFloat.ZERO || a.kind == SoftFloat.INF) {
                m = sf.convert(EXT, a);
            } else {
                m = s.neg ? sf.zero(EXT, a.neg) : sf.inf(EXT, a.neg);
                if (a.denormal) {
                    sf.flags |= DE;
                }
            }
        } else if (a.kind != SoftFloat.FINITE) {
            if (s.denormal) {
                sf.flags |= DE;
            }
            m = sf.convert(EXT, a);
        } else {
            long n = s.kind == SoftFloat.ZERO ? 0 : Math.max(-100_000, Math.min(100_000, truncate(s)));
            if (a.denormal || s.denormal) {
                sf.flags |= DE;
            }
            m = sf.round(EXT, a.neg, SoftFloat.big(a.sig), (int) (a.exp + n), false);
        }
        result(sf, 0, m);
    }

    private static long truncate(Num s) {
        if (s.exp >= 0) {
            return s.neg ? -1_000_000 : 1_000_000; // beyond any exponent
        }
        long v = -s.exp >= 64 ? 0 : s.sig >>> -s.exp;
        return s.neg ? -v : v;
    }

    /** FXTRACT: ST0 becomes its exponent, then its significand (exponent 0) is pushed. */
    @Override
    void fxtract() {
        SoftFloat sf = x87Context(false);
        if (empty(0)) {
            if (stackFault(false)) {
                setSt(0, IND_M, IND_SE);
                pushIndefinite();
            }
            return;
        }
        if ((fpu.tags & (1 << ((fpu.top - 1) & 7))) != 0) {
            if (stackFault(true)) {
                setSt(0, IND_M, IND_SE);
                fpush(IND_M, IND_SE);
            }
            return;
        }
        Num a = num(sf, 0);
        long expM;
        int expSe;
        long sigM;
        int sigSe;
        switch (a.kind) {
            case SoftFloat.ZERO -> {
                sf.flags |= ZE;
                expM = sf.inf(EXT, true);
                expSe = sf.se;
                sigM = 0;
                sigSe = se(0);
            }
            case SoftFloat.INF -> {
                expM = 1L << 63;
                expSe = 0x7fff;
                sigM = mant(0);
                sigSe = se(0);
            }
            case SoftFloat.FINITE -> {
                if (a.denormal) {
                    sf.flags |= DE;
                }
                int top = a.exp + 63 - Long.numberOfLeadingZeros(a.sig);
                expM = sf.fromInt(EXT, top);
                expSe = sf.se;
                sigM = a.sig << Long.numberOfLeadingZeros(a.sig);
                sigSe = (a.neg ? 0x8000 : 0) | 0x3fff;
            }
            default -> {
                expM = sf.add(EXT, a, a, false, true);
                expSe = sf.se;
                sigM = expM;
                sigSe = expSe;
            }
        }
        setCc(0);
        if (raise(sf.flags)) {
            setSt(0, expM, expSe);
            fpush(sigM, sigSe);
        }
    }

    /** FPREM (truncating quotient) and FPREM1 (IEEE, nearest): at most 63 quotient bits per step, C2 set when incomplete. */
    @Override
    void fprem(boolean ieee) {
        SoftFloat sf = x87Context(false);
        if (empty(0) || empty(1)) {
            if (stackFault(false)) {
                setSt(0, IND_M, IND_SE);
            }
            return;
        }
        Num a = num(sf, 0);
        Num b = num(sf, 1);
        if (a.kind == SoftFloat.NAN || b.kind == SoftFloat.NAN || a.kind == SoftFloat.UNSUPPORTED || b.kind == SoftFloat.UNSUPPORTED) {
            long m = sf.add(EXT, a, b, false, true);
            setCc(0);
            if (raise(sf.flags)) {
                setSt(0, m, sf.se);
            }
            return;
        }
        if (a.kind == SoftFloat.INF || b.kind == SoftFloat.ZERO) {
            long m = sf.invalid(EXT);
            setCc(0);
            if (raise(sf.flags)) {
                setSt(0, m, sf.se);
            }
            return;
        }
        if (a.denormal || b.denormal) {
            sf.flags |= DE;
        }
        if (a.kind == SoftFloat.ZERO || b.kind == SoftFloat.INF) {
            setCc(0);
            raise(sf.flags);
            return; // ST0 unchanged
        }
        int ta = a.exp + 63 - Long.numberOfLeadingZeros(a.sig);
        int tb = b.exp + 63 - Long.numberOfLeadingZeros(b.sig);
        int d = ta - tb;
        BigInteger sa = SoftFloat.big(a.sig);
        BigInteger sb = SoftFloat.big(b.sig);
        int exp = Math.min(a.exp, b.exp);
        if (d >= 64) {
            // Partial: reduce by b·2^(d - n) with n in 32..63 (the SDM's N), C2 set, quotient bits undefined (cleared)
            int n = 32 + (d - 32) % 32;
            int shift = d - n;
            BigInteger va = sa.shiftLeft(a.exp - exp);
            BigInteger vb = sb.shiftLeft(b.exp - exp + shift);
            BigInteger r = va.mod(vb);
            setCc(C2);
            long m = r.signum() == 0 ? 0 : sf.round(EXT, a.neg, r, exp, false);
            int se = r.signum() == 0 ? (a.neg ? 0x8000 : 0) : sf.se;
            if (raise(sf.flags & ~PE)) {
                setSt(0, m, se);
            }
            return;
        }
        BigInteger va = sa.shiftLeft(a.exp - exp);
        BigInteger vb = sb.shiftLeft(b.exp - exp);
        BigInteger[] qr = va.divideAndRemainder(vb);
        BigInteger q = qr[0];
        BigInteger r = qr[1];
        boolean neg = a.neg;
        if (ieee) {
            int c = r.shiftLeft(1).compareTo(vb);
            if (c > 0 || c == 0 && q.testBit(0)) {
                q = q.add(BigInteger.ONE);
                r = vb.subtract(r);
                neg = !neg;
            }
        }
        long qv = q.longValue();
        int cc = ((qv & 1) != 0 ? C1 : 0) | ((qv & 2) != 0 ? C3 : 0) | ((qv & 4) != 0 ? C0 : 0);
        setCc(cc);
        long m;
        int se;
        if (r.signum() == 0) {
            m = 0;
            se = a.neg ? 0x8000 : 0;
        } else {
            m = sf.round(EXT, neg, r, exp, false);
            se = sf.se;
        }
        if (raise(sf.flags & ~PE)) { // the remainder is exact
            setSt(0, m, se);
        }
    }

    // ---------------------------------------------------------------- BCD

    /** FBLD: 18 packed BCD digits and a sign byte, pushed exactly. */
    @Override
    void fbld() {
        long lo = rd(ea, 8);
        int hi = (int) rd(ea + 8, 2);
        long v = 0;
        for (int d = 8; d >= 0; d--) {
            int digits = d == 8 ? hi & 0xff : (int) (lo >>> (8 * d)) & 0xff;
            v = v * 100 + (digits >>> 4) * 10 + (digits & 15);
        }
        SoftFloat sf = x87Context(false);
        long m = sf.fromInt(EXT, v);
        int se = sf.se | ((hi & 0x8000) != 0 ? 0x8000 : 0);
        setCc(0);
        fpush(m, se);
    }

    /** FBSTP: ST0 rounded to an integer under RC, as 18 BCD digits; out of range: IE and the BCD indefinite. */
    @Override
    void fbstp() {
        SoftFloat sf = x87Context(false);
        long lo;
        int hi;
        if (empty(0)) {
            if (!stackFault(false)) {
                return;
            }
            lo = 0xc000000000000000L;
            hi = 0xffff;
        } else {
            Num a = num(sf, 0);
            long v = sf.toInt(a, 64, false);
            if ((sf.flags & IE) != 0 || Math.abs(v) > 999_999_999_999_999_999L) {
                sf.flags = (sf.flags | IE) & ~PE;
                lo = 0xc000000000000000L;
                hi = 0xffff;
            } else {
                boolean neg = a.neg;
                long u = Math.abs(v);
                lo = 0;
                for (int d = 0; d < 8; d++) {
                    lo |= ((u % 10) | (u / 10 % 10) << 4) << (8 * d);
                    u /= 100;
                }
                hi = (int) ((u % 10) | (u / 10 % 10) << 4) | (neg ? 0x8000 : 0);
            }
            setCc(sf.roundedUp && (sf.flags & PE) != 0 ? C1 : 0);
            if (!raise(sf.flags)) {
                return;
            }
        }
        translate(ea, WRITE);
        translate(ea + 9, WRITE);
        wr(ea, 8, lo);
        wr(ea + 8, 2, hi);
        fpop();
    }

    @Override
    void transcendental(int b) {
        SoftFloat sf = x87Context(false);
        boolean binary = b == 0xf1 || b == 0xf3 || b == 0xf9;
        boolean pushes = b == 0xf2 || b == 0xfb;
        if (!(b == 0xf0 || binary || pushes || b == 0xfe || b == 0xff)) {
            throw ud();
        }
        if (empty(0) || binary && empty(1)) {
            if (stackFault(false)) {
                setSt(binary ? 1 : 0, IND_M, IND_SE);
                if (binary) {
                    fpop();
                } else if (pushes) {
                    pushIndefinite();
                }
            }
            return;
        }
        if (pushes && (fpu.tags & (1 << ((fpu.top - 1) & 7))) != 0) {
            if (stackFault(true)) {
                setSt(0, IND_M, IND_SE);
                fpush(IND_M, IND_SE);
            }
            return;
        }
        Num a = num(sf, 0);
        Num c = binary ? num(sf, 1) : null;
        if (a.kind == SoftFloat.NAN || a.kind == SoftFloat.UNSUPPORTED || c != null && (c.kind == SoftFloat.NAN || c.kind == SoftFloat.UNSUPPORTED)) {
            long m = c == null ? sf.add(EXT, a, a, false, true) : sf.add(EXT, a, c, false, true);
            finish(sf, binary, pushes, m, sf.se, m, sf.se);
            return;
        }
        if (a.denormal || c != null && c.denormal) {
            sf.flags |= DE;
        }
        double x = value(sf, a);
        if ((b == 0xf2 || b >= 0xfb) && Math.abs(x) >= 0x1p63) {
            setCc(C2); // out of range: the operand is left as it was
            return;
        }
        double y = c == null ? 0 : value(sf, c);
        double r;
        double second = 1;
        switch (b) {
            case 0xf0 -> r = StrictMath.expm1(x * Math.log(2)); // F2XM1 (|x| <= 1)
            case 0xf1 -> { // FYL2X: ST1 · log2(ST0)
                if (x < 0 || x == 0 && y == 0 || Double.isInfinite(x) && y == 0 || x == 1 && Double.isInfinite(y)) {
                    r = Double.NaN;
                } else {
                    if (x == 0) {
                        sf.flags |= ZE;
                    }
                    r = y * (StrictMath.log(x) / Math.log(2));
                }
            }
            case 0xf9 -> r = y * (StrictMath.log1p(x) / Math.log(2)); // FYL2XP1
            case 0xf3 -> r = StrictMath.atan2(y, x); // FPATAN: atan(ST1/ST0)
            case 0xf2 -> r = StrictMath.tan(x); // FPTAN, then 1.0 pushed
            case 0xfb -> { // FSINCOS: sin in ST0, then cos pushed
                r = StrictMath.sin(x);
                second = StrictMath.cos(x);
            }
            case 0xfe -> r = StrictMath.sin(x);
            default -> r = StrictMath.cos(x);
        }
        if (Double.isNaN(r) && !Double.isNaN(x) && !Double.isNaN(y)) {
            long m = sf.invalid(EXT);
            finish(sf, binary, pushes, m, sf.se, m, sf.se);
            return;
        }
        long m = ext(sf, r);
        int se = sf.se;
        long m2 = ext(sf, second);
        int se2 = sf.se;
        if (r != 0 && !Double.isInfinite(r)) {
            sf.flags |= PE;
        }
        finish(sf, binary, pushes, m, se, m2, se2);
    }

    private void finish(SoftFloat sf, boolean binary, boolean pushes, long m, int se, long m2, int se2) {
        setCc(0);
        if (!raise(sf.flags)) {
            return;
        }
        if (binary) {
            setSt(1, m, se);
            fpop();
        } else {
            setSt(0, m, se);
            if (pushes) {
                fpush(m2, se2);
            }
        }
    }

    private static double value(SoftFloat sf, Num n) {
        int flags = sf.flags;
        int rc = sf.rc;
        sf.rc = SoftFloat.RN;
        long bits = sf.convert(DOUBLE, n);
        sf.rc = rc;
        sf.flags = flags;
        return Double.longBitsToDouble(bits);
    }

    private static long ext(SoftFloat sf, double d) {
        int flags = sf.flags;
        long m = sf.convert(EXT, sf.unpack(DOUBLE, Double.doubleToRawLongBits(d), 0));
        sf.flags = flags;
        return m;
    }

    X87Special(Wiring w) {
        super(w);
    }
}
