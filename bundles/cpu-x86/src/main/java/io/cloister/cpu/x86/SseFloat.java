package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.SoftFloat.Fmt.DOUBLE;
import static io.cloister.cpu.x86.SoftFloat.Fmt.SINGLE;

import io.cloister.cpu.x86.SoftFloat.Fmt;
import io.cloister.cpu.x86.SoftFloat.Num;

/**
 * The SSE/SSE2 floating-point forms, scalar and packed, single and double: arithmetic, square
 * root, min/max, compares (CMPcc, COMIS, UCOMIS), logic, and conversions between formats and
 * integers. Every lane is computed by {@link SoftFloat} under MXCSR's rounding, DAZ and FTZ; the
 * lanes' flags are folded into MXCSR and an unmasked one faults before anything is written.
 */
abstract class SseFloat extends X87Special {
    static final int NP = 0, P66 = 1, PF3 = 2, PF2 = 3;

    /** The floating-point form 0F {@code op}; false when {@code op} is none (the caller raises #UD). */
    boolean sseFloat(int op, int pfx) {
        switch (op) {
            case 0x51, 0x58, 0x59, 0x5c, 0x5d, 0x5e, 0x5f -> sseArith(op, pfx, 0);
            case 0xc2 -> sseArith(op, pfx, 1);
            case 0x52, 0x53 -> {
                if (pfx == P66 || pfx == PF2) {
                    throw ud();
                }
                sseArith(op, pfx, 0);
            }
            case 0x54, 0x55, 0x56, 0x57 -> {
                if (pfx > P66) {
                    throw ud();
                }
                sseCheck();
                modrm();
                long[] s = src128(true);
                long[] x = fpu.xmm;
                int d = 2 * modReg;
                for (int i = 0; i < 2; i++) {
                    long a = x[d + i];
                    x[d + i] = switch (op) {
                        case 0x54 -> a & s[i];
                        case 0x55 -> ~a & s[i];
                        case 0x56 -> a | s[i];
                        default -> a ^ s[i];
                    };
                }
            }
            case 0x2e, 0x2f -> sseCompareFlags(op, pfx);
            case 0x2a, 0x2c, 0x2d -> {
                if (pfx <= P66) {
                    sseMmxConvert(op, pfx);
                } else {
                    sseIntConvert(op, pfx);
                }
            }
            case 0x5a, 0x5b, 0xe6 -> sseConvert(op, pfx);
            default -> {
                return false;
            }
        }
        return true;
    }

    abstract long[] src128(boolean aligned);

    /** Lane i of width {@code bits} of a 128-bit value. */
    static long lane(long[] v, int i, int bits) {
        return bits == 64 ? v[i] : (v[i / 2] >>> (32 * (i & 1))) & 0xffffffffL;
    }

    static void setLane(long[] v, int i, int bits, long x) {
        if (bits == 64) {
            v[i] = x;
        } else {
            int sh = 32 * (i & 1);
            v[i / 2] = (v[i / 2] & ~(0xffffffffL << sh)) | (x & 0xffffffffL) << sh;
        }
    }

    /** The source of a scalar form: the low lane of a register, or m32/m64. */
    private long[] scalarSource(int bits) {
        if (modIsReg) {
            return new long[] {fpu.xmm[2 * modRm], fpu.xmm[2 * modRm + 1]};
        }
        return new long[] {rd(ea, bits / 8), 0};
    }

    /** Arithmetic, min/max, square root, reciprocals and CMPcc ({@code immBytes} 1) on packed or scalar lanes. */
    private void sseArith(int op, int pfx, int immBytes) {
        sseCheck();
        modrm();
        Fmt f = pfx == NP || pfx == PF3 ? SINGLE : DOUBLE;
        int bits = f == SINGLE ? 32 : 64;
        boolean scalar = pfx >= PF3;
        long[] b = scalar ? scalarSource(bits) : src128(true);
        int pred = immBytes == 1 ? (int) immU() & 7 : 0; // CMPcc
        int d = 2 * modReg;
        long[] a = {fpu.xmm[d], fpu.xmm[d + 1]};
        SoftFloat sf = sseContext();
        int lanes = scalar ? 1 : 128 / bits;
        long[] out = a.clone();
        for (int i = 0; i < lanes; i++) {
            setLane(out, i, bits, sseLane(sf, op, f, pred, lane(a, i, bits), lane(b, i, bits)));
        }
        sseFlags(sf.flags);
        fpu.xmm[d] = out[0];
        fpu.xmm[d + 1] = out[1];
    }

    private long sseLane(SoftFloat sf, int op, Fmt f, int pred, long a, long b) {
        if (op == 0x52 || op == 0x53) {
            return sseApproximate(op, b);
        }
        if (f == DOUBLE && sf.rc == SoftFloat.RN && op != 0x5d && op != 0x5f && op != 0xc2) {
            long r = fastDouble(sf, op, a, b);
            if (r != NO_FAST) {
                return r;
            }
        }
        Num y = sf.unpack(f, b, 0);
        if (op == 0x51) {
            return sf.sqrt(f, y);
        }
        Num x = sf.unpack(f, a, 0);
        return switch (op) {
            case 0x58 -> sf.add(f, x, y, false, false);
            case 0x5c -> sf.add(f, x, y, true, false);
            case 0x59 -> sf.mul(f, x, y, false);
            case 0x5e -> sf.div(f, x, y, false);
            case 0x5d, 0x5f -> { // MIN, MAX: a NaN or two zeros give the second operand
                int c = sf.compare(x, y, true);
                boolean first = c != 2 && (op == 0x5d ? c < 0 : c > 0);
                yield first ? flushed(sf, f, a) : flushed(sf, f, b);
            }
            default -> { // CMPcc
                int c = sf.compare(x, y, pred == 1 || pred == 2 || pred == 5 || pred == 6);
                boolean t = switch (pred) {
                    case 0 -> c == 0;
                    case 1 -> c == -1;
                    case 2 -> c == -1 || c == 0;
                    case 3 -> c == 2;
                    case 4 -> c != 0;
                    case 5 -> c != -1;
                    case 6 -> !(c == -1 || c == 0);
                    default -> c != 2;
                };
                yield t ? -1L >>> (64 - (f == SINGLE ? 32 : 64)) : 0;
            }
        };
    }

    /** fastDouble() could not decide: the exact path runs. (A NaN, which fastDouble never returns.) */
    private static final long NO_FAST = 0x7ff4000000000001L;

    /**
     * The common case of ADDSD/SUBSD/MULSD/DIVSD/SQRTSD and their packed forms, round to nearest:
     * operands and result normal and far from overflow and underflow. Java's double arithmetic
     * rounds exactly as IEEE does; whether it was exact (PE) follows from the error term, which
     * is representable here (TwoSum for sums, FMA for products, quotients and roots). Anything
     * else — zeros, denormals, infinities, NaNs, extreme exponents — takes the exact path.
     */
    private static long fastDouble(SoftFloat sf, int op, long a, long b) {
        if (!ordinary(b) || op != 0x51 && !ordinary(a)) {
            return NO_FAST;
        }
        double x = Double.longBitsToDouble(a);
        double y = Double.longBitsToDouble(b);
        double r;
        boolean exact;
        switch (op) {
            case 0x58, 0x5c -> {
                double z = op == 0x58 ? y : -y;
                r = x + z;
                double bb = r - x;
                exact = (x - (r - bb)) + (z - bb) == 0;
            }
            case 0x59 -> {
                r = x * y;
                exact = Math.fma(x, y, -r) == 0;
            }
            case 0x5e -> {
                r = x / y;
                exact = Math.fma(-r, y, x) == 0;
            }
            default -> {
                if (y < 0) {
                    return NO_FAST;
                }
                r = Math.sqrt(y);
                exact = Math.fma(-r, r, y) == 0;
            }
        }
        long bits = Double.doubleToRawLongBits(r);
        if (!ordinary(bits)) {
            return NO_FAST;
        }
        if (!exact) {
            sf.flags |= SoftFloat.PE;
        }
        return bits;
    }

    /** A double whose exponent keeps every error term above the denormal range and results below overflow. */
    private static boolean ordinary(long bits) {
        int e = (int) (bits >>> 52) & 0x7ff;
        return e > 200 && e < 1800;
    }

    /** An operand passed through (MIN/MAX): under DAZ a denormal comes out as a zero of its sign. */
    private static long flushed(SoftFloat sf, Fmt f, long v) {
        int fracBits = f.p - 1;
        long exp = (v >>> fracBits) & f.maxExp;
        if (sf.daz && exp == 0 && (v & ((1L << fracBits) - 1)) != 0) {
            return v & ~((1L << (fracBits + (f == SINGLE ? 8 : 11))) - 1);
        }
        return v;
    }

    /**
     * RCPPS/RCPSS, RSQRTPS/RSQRTSS: the SDM asks for a relative error within 1.5·2^-12; this gives
     * the correctly rounded value (CPUs differ from each other here). They raise no flags; denormal
     * inputs count as zero and results that would be denormal are zero.
     */
    private static long sseApproximate(int op, long bits) {
        float v = Float.intBitsToFloat((int) bits);
        if (Math.getExponent(v) == Float.MIN_EXPONENT - 1) {
            v = Math.copySign(0f, v);
        }
        float r;
        if (Float.isNaN(v)) {
            return bits | 0x400000L;
        } else if (op == 0x53) {
            r = (float) (1.0 / v);
        } else if (v < 0) {
            return 0xffc00000L;
        } else {
            r = (float) (1.0 / Math.sqrt(v));
            if (v == 0 && (bits & 0x80000000L) != 0) {
                r = Float.NEGATIVE_INFINITY;
            }
        }
        if (Math.getExponent(r) == Float.MIN_EXPONENT - 1) {
            r = Math.copySign(0f, r);
        }
        return Float.floatToRawIntBits(r) & 0xffffffffL;
    }

    /** COMISS/COMISD (any NaN invalid), UCOMISS/UCOMISD (signaling NaNs only): ZF, PF, CF; OF, SF, AF cleared. */
    private void sseCompareFlags(int op, int pfx) {
        if (pfx > P66) {
            throw ud();
        }
        sseCheck();
        modrm();
        Fmt f = pfx == NP ? SINGLE : DOUBLE;
        int bits = f == SINGLE ? 32 : 64;
        long[] b = scalarSource(bits);
        SoftFloat sf = sseContext();
        int c = sf.compare(sf.unpack(f, lane(new long[] {fpu.xmm[2 * modReg], 0}, 0, bits), 0), sf.unpack(f, lane(b, 0, bits), 0), op == 0x2f);
        sseFlags(sf.flags);
        long fl = switch (c) {
            case 2 -> Flags.ZF | Flags.PF | Flags.CF;
            case -1 -> Flags.CF;
            case 0 -> Flags.ZF;
            default -> 0;
        };
        setFlags(fl);
    }

    /** CVTSI2SS/SD, CVT(T)SS2SI, CVT(T)SD2SI: the integer is 32 bits, 64 with REX.W. */
    private void sseIntConvert(int op, int pfx) {
        sseCheck();
        modrm();
        Fmt f = pfx == PF3 ? SINGLE : DOUBLE;
        int bits = f == SINGLE ? 32 : 64;
        int isize = dec.rexW == 1 ? 8 : 4;
        SoftFloat sf = sseContext();
        int d = 2 * modReg;
        if (op == 0x2a) {
            long v = Flags.sext(rm(isize), isize);
            long res = sf.fromInt(f, v);
            sseFlags(sf.flags);
            long[] x = {fpu.xmm[d], fpu.xmm[d + 1]};
            setLane(x, 0, bits, res);
            fpu.xmm[d] = x[0];
            return;
        }
        long[] s = scalarSource(bits);
        long v = sf.toInt(sf.unpack(f, lane(s, 0, bits), 0), isize * 8, op == 0x2c);
        sseFlags(sf.flags);
        setReg(modReg, isize, v);
    }

    /** CVTPI2PS, CVTPI2PD (from MMX), CVT(T)PS2PI, CVT(T)PD2PI (to MMX). */
    private void sseMmxConvert(int op, int pfx) {
        sseCheck();
        modrm();
        SoftFloat sf = sseContext();
        Fmt f = pfx == NP ? SINGLE : DOUBLE;
        if (op == 0x2a) {
            long src;
            if (modIsReg) {
                mmxCheck();
                src = fpu.mm(modRm & 7);
            } else {
                src = rd(ea, 8);
            }
            long r0 = sf.fromInt(f, (int) src);
            long r1 = sf.fromInt(f, (int) (src >>> 32));
            sseFlags(sf.flags);
            int d = 2 * modReg;
            if (f == SINGLE) {
                fpu.xmm[d] = (r0 & 0xffffffffL) | r1 << 32;
            } else {
                fpu.xmm[d] = r0;
                fpu.xmm[d + 1] = r1;
            }
            return;
        }
        long[] s = f == SINGLE ? scalarSource(64) : src128(true);
        int bits = f == SINGLE ? 32 : 64;
        mmxCheck();
        long r0 = sf.toInt(sf.unpack(f, lane(s, 0, bits), 0), 32, op == 0x2c);
        long r1 = sf.toInt(sf.unpack(f, lane(s, 1, bits), 0), 32, op == 0x2c);
        sseFlags(sf.flags);
        fpu.setMm(modReg & 7, (r0 & 0xffffffffL) | r1 << 32);
    }

    /** 0F 5A, 5B, E6: conversions between single, double and packed 32-bit integers. */
    private void sseConvert(int op, int pfx) {
        if (op == 0x5b && pfx == PF2 || op == 0xe6 && pfx == NP) {
            throw ud();
        }
        sseCheck();
        modrm();
        SoftFloat sf = sseContext();
        int d = 2 * modReg;
        long[] out = {fpu.xmm[d], fpu.xmm[d + 1]};
        long[] s;
        switch (op << 2 | pfx) {
            case 0x5a << 2 | NP -> { // CVTPS2PD
                s = scalarSource(64);
                out[0] = sf.convert(DOUBLE, sf.unpack(SINGLE, lane(s, 0, 32), 0));
                out[1] = sf.convert(DOUBLE, sf.unpack(SINGLE, lane(s, 1, 32), 0));
            }
            case 0x5a << 2 | P66 -> { // CVTPD2PS
                s = src128(true);
                out[0] = (sf.convert(SINGLE, sf.unpack(DOUBLE, s[0], 0)) & 0xffffffffL) | sf.convert(SINGLE, sf.unpack(DOUBLE, s[1], 0)) << 32;
                out[1] = 0;
            }
            case 0x5a << 2 | PF3 -> { // CVTSS2SD
                s = scalarSource(32);
                out[0] = sf.convert(DOUBLE, sf.unpack(SINGLE, lane(s, 0, 32), 0));
            }
            case 0x5a << 2 | PF2 -> { // CVTSD2SS
                s = scalarSource(64);
                setLane(out, 0, 32, sf.convert(SINGLE, sf.unpack(DOUBLE, s[0], 0)));
            }
            case 0x5b << 2 | NP -> { // CVTDQ2PS
                s = src128(true);
                for (int i = 0; i < 4; i++) {
                    setLane(out, i, 32, sf.fromInt(SINGLE, (int) lane(s, i, 32)));
                }
            }
            case 0x5b << 2 | P66, 0x5b << 2 | PF3 -> { // CVTPS2DQ, CVTTPS2DQ
                s = src128(true);
                for (int i = 0; i < 4; i++) {
                    setLane(out, i, 32, sf.toInt(sf.unpack(SINGLE, lane(s, i, 32), 0), 32, pfx == PF3));
                }
            }
            case 0xe6 << 2 | PF3 -> { // CVTDQ2PD
                s = scalarSource(64);
                out[0] = sf.fromInt(DOUBLE, (int) s[0]);
                out[1] = sf.fromInt(DOUBLE, (int) (s[0] >>> 32));
            }
            default -> { // CVTTPD2DQ (66), CVTPD2DQ (F2)
                s = src128(true);
                long r0 = sf.toInt(sf.unpack(DOUBLE, s[0], 0), 32, pfx == P66);
                long r1 = sf.toInt(sf.unpack(DOUBLE, s[1], 0), 32, pfx == P66);
                out[0] = (r0 & 0xffffffffL) | r1 << 32;
                out[1] = 0;
            }
        }
        sseFlags(sf.flags);
        fpu.xmm[d] = out[0];
        fpu.xmm[d + 1] = out[1];
    }

    SseFloat(Wiring w) {
        super(w);
    }
}
