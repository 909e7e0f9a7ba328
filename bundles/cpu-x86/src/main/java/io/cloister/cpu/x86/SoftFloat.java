package io.cloister.cpu.x86;

import java.math.BigInteger;

/**
 * IEEE 754 binary arithmetic as x86 defines it for SSE and the x87, on raw encodings (binary32,
 * binary64, and the x87's 80-bit extended format with its explicit integer bit). Java's float and
 * double cannot serve: they know one rounding mode, no exception flags, no 64-bit significand. Every
 * operation is computed exactly (BigInteger, with a sticky bit for division and square root) and
 * rounded once by {@link #round}, with the flags x86 raises: invalid, denormal operand, divide by
 * zero, overflow, underflow (tininess detected after rounding, as the host CPU does), precision.
 * One instance per vCPU holds the context of the operation running (rounding, DAZ/FTZ) and the
 * flags it raised; the caller reads and clears them.
 */
final class SoftFloat {
    static final int IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32;
    static final int RN = 0, RD = 1, RU = 2, RZ = 3;

    /** A binary format: precision with the integer bit, exponent bits. */
    enum Fmt {
        SINGLE(24, 8), DOUBLE(53, 11), EXT(64, 15);

        final int p;
        final int bias;
        final int maxExp; // the all-ones biased exponent

        Fmt(int p, int ebits) {
            this.p = p;
            this.bias = (1 << (ebits - 1)) - 1;
            this.maxExp = (1 << ebits) - 1;
        }
    }

    static final int ZERO = 0, FINITE = 1, INF = 2, NAN = 3, UNSUPPORTED = 4;

    /** An unpacked operand: value sig·2^exp; NaNs keep their fraction left-aligned with the quiet bit at bit 62. */
    static final class Num {
        boolean neg;
        int kind;
        long sig;
        int exp;
        boolean snan;
        boolean denormal;
        long nan;
    }

    // The operation's context, set by the caller
    int rc;
    boolean daz;
    boolean ftz;
    /** Whether underflow is masked (MXCSR.UM, FCW.UM): unmasked, a tiny exact result is an underflow too. */
    boolean underflowMasked = true;
    /** Precision of extended results (x87 precision control): 24, 53 or 64. */
    int extPrecision = 64;

    // What it produced
    int flags;
    /** The sign and biased exponent of an extended result (its significand is the returned long). */
    int se;
    /** The last rounding increased the magnitude (the x87's C1). */
    boolean roundedUp;

    // ---------------------------------------------------------------- unpacking and packing

    Num unpack(Fmt f, long lo, int hi) {
        Num n = new Num();
        int e;
        long frac;
        if (f == Fmt.EXT) {
            n.neg = (hi & 0x8000) != 0;
            e = hi & 0x7fff;
            if (e == 0x7fff) {
                if ((lo & (1L << 63)) == 0) {
                    n.kind = UNSUPPORTED; // pseudo-infinity, pseudo-NaN
                } else if ((lo << 1) == 0) {
                    n.kind = INF;
                } else {
                    n.kind = NAN;
                    n.nan = lo & Long.MAX_VALUE;
                    n.snan = (lo & (1L << 62)) == 0;
                }
                return n;
            }
            if (e != 0 && (lo & (1L << 63)) == 0) {
                n.kind = UNSUPPORTED; // unnormal
                return n;
            }
            if (lo == 0) {
                n.kind = ZERO;
                return n;
            }
            n.kind = FINITE;
            n.sig = lo;
            n.exp = (e == 0 ? 1 : e) - f.bias - 63;
            n.denormal = e == 0;
            return n;
        }
        int fracBits = f.p - 1;
        int ebits = f == Fmt.SINGLE ? 8 : 11;
        n.neg = ((lo >>> (fracBits + ebits)) & 1) != 0;
        e = (int) ((lo >>> fracBits) & f.maxExp);
        frac = lo & ((1L << fracBits) - 1);
        if (e == f.maxExp) {
            if (frac == 0) {
                n.kind = INF;
            } else {
                n.kind = NAN;
                n.nan = frac << (63 - fracBits);
                n.snan = (n.nan & (1L << 62)) == 0;
            }
            return n;
        }
        if (e == 0) {
            if (frac == 0) {
                n.kind = ZERO;
                return n;
            }
            if (daz) {
                n.kind = ZERO; // denormals are zeros, without the denormal flag
                return n;
            }
            n.kind = FINITE;
            n.denormal = true;
            n.sig = frac;
            n.exp = 1 - f.bias - fracBits;
            return n;
        }
        n.kind = FINITE;
        n.sig = frac | (1L << fracBits);
        n.exp = e - f.bias - fracBits;
        return n;
    }

    long pack(Fmt f, boolean neg, int biased, long sigBits) {
        if (f == Fmt.EXT) {
            se = (neg ? 0x8000 : 0) | biased;
            return sigBits;
        }
        int fracBits = f.p - 1;
        int ebits = f == Fmt.SINGLE ? 8 : 11;
        return (neg ? 1L << (fracBits + ebits) : 0) | ((long) biased << fracBits) | (sigBits & ((1L << fracBits) - 1));
    }

    long zero(Fmt f, boolean neg) {
        return pack(f, neg, 0, 0);
    }

    long inf(Fmt f, boolean neg) {
        return pack(f, neg, f.maxExp, f == Fmt.EXT ? 1L << 63 : 0);
    }

    /** The default NaN an invalid operation returns ("QNaN floating-point indefinite"). */
    long indefinite(Fmt f) {
        return quietNan(f, true, 1L << 62);
    }

    long quietNan(Fmt f, boolean neg, long nan) {
        nan |= 1L << 62;
        if (f == Fmt.EXT) {
            return pack(f, neg, f.maxExp, nan | (1L << 63));
        }
        return pack(f, neg, f.maxExp, nan >>> (63 - (f.p - 1)));
    }

    long quiet(Fmt f, Num n) {
        if (n.snan) {
            flags |= IE;
        }
        return quietNan(f, n.neg, n.nan);
    }

    /** The default result of an invalid operation. */
    long invalid(Fmt f) {
        flags |= IE;
        return indefinite(f);
    }

    /** Raises DE for a denormal operand. */
    private void denormals(Num a, Num b) {
        if (a.denormal || b != null && b.denormal) {
            flags |= DE;
        }
    }

    // ---------------------------------------------------------------- rounding

    private int precision(Fmt f) {
        return f == Fmt.EXT ? extPrecision : f.p;
    }

    /** Rounds (-1)^neg · sig · 2^exp (sig > 0; {@code sticky}: something non-zero lies below) to {@code f}. */
    long round(Fmt f, boolean neg, BigInteger sig, int exp, boolean sticky) {
        roundedUp = false;
        int p = precision(f);
        int emin = 1 - f.bias;
        int n = sig.bitLength();
        int e = exp + n - 1;
        // Tininess after rounding: the result rounded to p bits with an unbounded exponent is below 2^emin.
        boolean tiny = e < emin - 1 || e == emin - 1 && !carries(neg, sig, exp, sticky, e - (p - 1));
        int lsb = Math.max(e, emin) - (p - 1);
        int shift = lsb - exp;
        BigInteger kept;
        boolean half;
        boolean rest;
        if (shift <= 0) {
            kept = sig.shiftLeft(-shift);
            half = false;
            rest = sticky;
        } else {
            kept = sig.shiftRight(shift);
            half = sig.testBit(shift - 1);
            int low = sig.getLowestSetBit();
            rest = sticky || low < shift - 1;
        }
        boolean inexact = half || rest;
        if (tiny && ftz && underflowMasked) {
            flags |= UE | PE;
            return zero(f, neg);
        }
        if (increment(neg, kept, half, rest)) {
            kept = kept.add(BigInteger.ONE);
            roundedUp = true;
            if (kept.bitLength() > p) {
                kept = kept.shiftRight(1);
                lsb++;
            }
        }
        if (tiny && (inexact || !underflowMasked)) {
            flags |= UE;
        }
        if (inexact) {
            flags |= PE;
        }
        if (kept.signum() == 0) {
            return zero(f, neg);
        }
        boolean normal = kept.bitLength() == p;
        int biased = normal ? lsb + (p - 1) + f.bias : 0;
        if (biased >= f.maxExp) {
            flags |= OE | PE;
            boolean toInf = switch (rc) {
                case RN -> true;
                case RU -> !neg;
                case RD -> neg;
                default -> false;
            };
            roundedUp = toInf;
            if (toInf) {
                return inf(f, neg);
            }
            return pack(f, neg, f.maxExp - 1, f == Fmt.EXT ? -1L << (64 - p) : -1L);
        }
        long bits = kept.longValue();
        return pack(f, neg, biased, f == Fmt.EXT ? bits << (64 - p) : bits);
    }

    private boolean increment(boolean neg, BigInteger kept, boolean half, boolean rest) {
        return switch (rc) {
            case RN -> half && (rest || kept.testBit(0));
            case RU -> (half || rest) && !neg;
            case RD -> (half || rest) && neg;
            default -> false;
        };
    }

    /** Whether rounding at {@code lsb} carries into a new power of two. */
    private boolean carries(boolean neg, BigInteger sig, int exp, boolean sticky, int lsb) {
        int shift = lsb - exp;
        if (shift <= 0) {
            return false;
        }
        BigInteger kept = sig.shiftRight(shift);
        boolean half = sig.testBit(shift - 1);
        boolean rest = sticky || sig.getLowestSetBit() < shift - 1;
        return increment(neg, kept, half, rest) && kept.add(BigInteger.ONE).bitLength() > kept.bitLength();
    }

    private long exact(Fmt f, Num n) {
        return round(f, n.neg, big(n.sig), n.exp, false);
    }

    static BigInteger big(long unsigned) {
        BigInteger b = BigInteger.valueOf(unsigned & Long.MAX_VALUE);
        return unsigned < 0 ? b.setBit(63) : b;
    }

    // ---------------------------------------------------------------- operations

    /** NaN operands of a two-operand operation: SSE returns the first NaN, the x87 the larger significand. */
    private long nans(Fmt f, Num a, Num b, boolean x87) {
        if (a.snan || b.snan) {
            flags |= IE;
        }
        Num n;
        if (a.kind != NAN) {
            n = b;
        } else if (b.kind != NAN) {
            n = a;
        } else if (x87) {
            // A quiet NaN over a signaling one, else the larger significand (SDM vol. 1, table 4-7)
            if (a.snan != b.snan) {
                n = a.snan ? b : a;
            } else {
                n = Long.compareUnsigned(a.nan, b.nan) >= 0 ? a : b;
            }
        } else {
            n = a;
        }
        return quietNan(f, n.neg, n.nan);
    }

    /** a + b (or a - b): {@code x87} selects the x87's NaN rules. */
    long add(Fmt f, Num a, Num b, boolean subtract, boolean x87) {
        boolean bneg = b.neg ^ subtract;
        if (a.kind == UNSUPPORTED || b.kind == UNSUPPORTED) {
            return invalid(f);
        }
        if (a.kind == NAN || b.kind == NAN) {
            return nans(f, a, b, x87);
        }
        denormals(a, b); // raised beside an infinity too (not beside a NaN), as the host CPU does
        if (a.kind == INF || b.kind == INF) {
            if (a.kind == INF && b.kind == INF && a.neg != bneg) {
                return invalid(f);
            }
            return inf(f, a.kind == INF ? a.neg : bneg);
        }
        if (a.kind == ZERO && b.kind == ZERO) {
            return zero(f, a.neg == bneg ? a.neg : rc == RD);
        }
        if (b.kind == ZERO) {
            return exact(f, a);
        }
        if (a.kind == ZERO) {
            return round(f, bneg, big(b.sig), b.exp, false);
        }
        // Far apart, the smaller operand only matters as a unit well below the larger one's precision.
        int ta = a.exp + 63 - Long.numberOfLeadingZeros(a.sig);
        int tb = b.exp + 63 - Long.numberOfLeadingZeros(b.sig);
        int hi = Math.max(ta, tb);
        if (ta < hi - 70) {
            a = shifted(a, hi - 70);
        } else if (tb < hi - 70) {
            b = shifted(b, hi - 70);
        }
        int exp = Math.min(a.exp, b.exp);
        boolean sticky = false;
        BigInteger sa = big(a.sig);
        BigInteger sb = big(b.sig);
        BigInteger va = a.exp == exp ? sa : sa.shiftLeft(a.exp - exp);
        BigInteger vb = b.exp == exp ? sb : sb.shiftLeft(b.exp - exp);
        if (a.neg) {
            va = va.negate();
        }
        if (bneg) {
            vb = vb.negate();
        }
        BigInteger sum = va.add(vb);
        if (sum.signum() == 0) {
            return zero(f, rc == RD);
        }
        return round(f, sum.signum() < 0, sum.abs(), exp, sticky);
    }

    /** A tiny operand replaced by a sticky unit just below {@code far}, same sign. */
    private static Num shifted(Num n, int far) {
        Num s = new Num();
        s.neg = n.neg;
        s.kind = FINITE;
        s.sig = 1;
        s.exp = far - 1;
        return s;
    }

    long mul(Fmt f, Num a, Num b, boolean x87) {
        boolean neg = a.neg ^ b.neg;
        if (a.kind == UNSUPPORTED || b.kind == UNSUPPORTED) {
            return invalid(f);
        }
        if (a.kind == NAN || b.kind == NAN) {
            return nans(f, a, b, x87);
        }
        denormals(a, b); // raised beside an infinity too (not beside a NaN), as the host CPU does
        if (a.kind == INF || b.kind == INF) {
            if (a.kind == ZERO || b.kind == ZERO) {
                return invalid(f);
            }
            return inf(f, neg);
        }
        if (a.kind == ZERO || b.kind == ZERO) {
            return zero(f, neg);
        }
        return round(f, neg, big(a.sig).multiply(big(b.sig)), a.exp + b.exp, false);
    }

    long div(Fmt f, Num a, Num b, boolean x87) {
        boolean neg = a.neg ^ b.neg;
        if (a.kind == UNSUPPORTED || b.kind == UNSUPPORTED) {
            return invalid(f);
        }
        if (a.kind == NAN || b.kind == NAN) {
            return nans(f, a, b, x87);
        }
        if (b.kind == ZERO && a.kind != ZERO && a.kind != INF) {
            flags |= ZE; // a denormal dividend raises no DE here
            return inf(f, neg);
        }
        denormals(a, b); // beside an infinity too
        if (a.kind == INF) {
            return b.kind == INF ? invalid(f) : inf(f, neg);
        }
        if (b.kind == INF) {
            return zero(f, neg);
        }
        if (b.kind == ZERO) {
            return invalid(f);
        }
        if (a.kind == ZERO) {
            return zero(f, neg);
        }
        BigInteger sa = big(a.sig);
        BigInteger sb = big(b.sig);
        int k = Math.max(0, 66 + sb.bitLength() - sa.bitLength());
        BigInteger[] qr = sa.shiftLeft(k).divideAndRemainder(sb);
        return round(f, neg, qr[0], a.exp - k - b.exp, qr[1].signum() != 0);
    }

    long sqrt(Fmt f, Num a) {
        if (a.kind == UNSUPPORTED) {
            return invalid(f);
        }
        if (a.kind == NAN) {
            return quiet(f, a);
        }
        if (a.kind == ZERO) {
            return zero(f, a.neg);
        }
        if (a.neg) {
            return invalid(f);
        }
        if (a.kind == INF) {
            return inf(f, false);
        }
        denormals(a, null);
        BigInteger s = big(a.sig);
        int exp = a.exp;
        if ((exp & 1) != 0) {
            s = s.shiftLeft(1);
            exp--;
        }
        int k = Math.max(0, 140 - s.bitLength()) & ~1;
        s = s.shiftLeft(k);
        BigInteger[] root = s.sqrtAndRemainder();
        return round(f, false, root[0], (exp - k) / 2, root[1].signum() != 0);
    }

    /** Converts between formats (rounding when narrowing); NaNs keep their payload, quieted. */
    long convert(Fmt to, Num a) {
        return switch (a.kind) {
            case UNSUPPORTED -> invalid(to);
            case NAN -> quiet(to, a);
            case INF -> inf(to, a.neg);
            case ZERO -> zero(to, a.neg);
            default -> {
                denormals(a, null);
                yield exact(to, a);
            }
        };
    }

    /** A signed integer to a format. */
    long fromInt(Fmt f, long v) {
        if (v == 0) {
            return zero(f, false);
        }
        return round(f, v < 0, BigInteger.valueOf(v).abs(), 0, false);
    }

    /**
     * To a signed integer of {@code bits} (16, 32 or 64), rounded by rc or truncated; NaN or out of
     * range: the integer indefinite (the most negative value) and invalid.
     */
    long toInt(Num a, int bits, boolean truncate) {
        long indefinite = Long.MIN_VALUE >> (64 - bits);
        if (a.kind == NAN || a.kind == INF || a.kind == UNSUPPORTED) {
            flags |= IE;
            return indefinite;
        }
        if (a.kind == ZERO) {
            return 0;
        }
        BigInteger sig = big(a.sig);
        BigInteger kept;
        boolean half = false;
        boolean rest = false;
        if (a.exp >= 0) {
            if (a.exp > 64) {
                flags |= IE;
                return indefinite;
            }
            kept = sig.shiftLeft(a.exp);
        } else {
            int shift = -a.exp;
            kept = sig.shiftRight(shift);
            half = sig.testBit(shift - 1);
            rest = sig.getLowestSetBit() < shift - 1;
        }
        int saved = rc;
        if (truncate) {
            rc = RZ;
        }
        roundedUp = increment(a.neg, kept, half, rest);
        if (roundedUp) {
            kept = kept.add(BigInteger.ONE);
        }
        rc = saved;
        BigInteger v = a.neg ? kept.negate() : kept;
        if (v.bitLength() >= bits) {
            flags |= IE;
            return indefinite;
        }
        if (half || rest) {
            flags |= PE;
        }
        return v.longValue();
    }

    /**
     * Compares: -1 less, 0 equal, 1 greater, 2 unordered. Any NaN raises invalid when
     * {@code signaling}, else only a signaling NaN does; denormal operands raise DE.
     */
    int compare(Num a, Num b, boolean signaling) {
        if (a.kind == UNSUPPORTED || b.kind == UNSUPPORTED) {
            flags |= IE;
            return 2;
        }
        if (a.kind == NAN || b.kind == NAN) {
            if (signaling || a.snan || b.snan) {
                flags |= IE;
            }
            return 2;
        }
        denormals(a, b);
        int sa = a.kind == ZERO ? 0 : a.neg ? -1 : 1;
        int sb = b.kind == ZERO ? 0 : b.neg ? -1 : 1;
        if (sa != sb || sa == 0) {
            return Integer.compare(sa, sb);
        }
        return sa * compareMagnitudes(a, b);
    }

    private static int compareMagnitudes(Num a, Num b) {
        if (a.kind != b.kind) {
            return a.kind == INF ? 1 : -1;
        }
        if (a.kind == INF) {
            return 0;
        }
        int ta = a.exp + 63 - Long.numberOfLeadingZeros(a.sig);
        int tb = b.exp + 63 - Long.numberOfLeadingZeros(b.sig);
        if (ta != tb) {
            return Integer.compare(ta, tb);
        }
        int exp = Math.min(a.exp, b.exp);
        return big(a.sig).shiftLeft(a.exp - exp).compareTo(big(b.sig).shiftLeft(b.exp - exp));
    }
}
