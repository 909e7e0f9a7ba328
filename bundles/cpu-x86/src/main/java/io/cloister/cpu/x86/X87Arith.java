package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.SoftFloat.DE;
import static io.cloister.cpu.x86.SoftFloat.Fmt.DOUBLE;
import static io.cloister.cpu.x86.SoftFloat.Fmt.EXT;
import static io.cloister.cpu.x86.SoftFloat.Fmt.SINGLE;
import static io.cloister.cpu.x86.SoftFloat.IE;
import static io.cloister.cpu.x86.SoftFloat.PE;
import static io.cloister.cpu.x86.SoftFloat.ZE;

import java.math.BigInteger;

import io.cloister.cpu.x86.SoftFloat.Fmt;
import io.cloister.cpu.x86.SoftFloat.Num;

/**
 * x87 loads, stores and arithmetic on exact 80-bit values (sign, 15-bit exponent, 64-bit
 * significand in {@link FpuState}), rounded by {@link SoftFloat} under the control word's rounding
 * and precision control: FLD/FST(P)/FILD/FIST(P) of every width, constants, FXCH, FADD/FSUB(R)/
 * FMUL/FDIV(R) in all their forms, FCOM/FUCOM/FCOMI/FUCOMI/FICOM/FTST/FXAM, FCMOVcc, FCHS, FABS,
 * FSQRT, FRNDINT, FFREE, FINCSTP/FDECSTP. Stack overflow and
 * underflow, masked responses (the indefinite), condition codes and C1's round-up as the SDM says.
 * FSCALE, FXTRACT, FPREM/FPREM1, FRNDINT's rounding, BCD and the transcendentals are in {@link X87Special}.
 */
abstract class X87Arith extends X87Insns {
    static final int C0 = 1 << 8, C1 = 1 << 9, C2 = 1 << 10, C3 = 1 << 14, SFAULT = 1 << 6;
    static final int CC = C0 | C1 | C2 | C3;
    /** The extended indefinite: negative quiet NaN, significand C000000000000000. */
    static final long IND_M = 0xc000000000000000L;
    static final int IND_SE = 0xffff;

    // ---------------------------------------------------------------- the stack

    boolean empty(int i) {
        return (fpu.tags & (1 << fpu.phys(i))) == 0;
    }

    long mant(int i) {
        return fpu.st[fpu.phys(i)];
    }

    int se(int i) {
        return fpu.se[fpu.phys(i)];
    }

    void setSt(int i, long m, int se) {
        int p = fpu.phys(i);
        fpu.st[p] = m;
        fpu.se[p] = se & 0xffff;
        fpu.tags |= 1 << p;
    }

    /** Pushes a value; onto a full register: stack overflow (the indefinite when masked, nothing when not). */
    void fpush(long m, int se) {
        int p = (fpu.top - 1) & 7;
        if ((fpu.tags & (1 << p)) != 0) {
            if (!stackFault(true)) {
                return;
            }
            m = IND_M;
            se = IND_SE;
        }
        fpu.top = p;
        fpu.st[p] = m;
        fpu.se[p] = se & 0xffff;
        fpu.tags |= 1 << p;
    }

    /** The masked response to a stack underflow of an instruction that pushes: the indefinite goes on top whatever was there. */
    void pushIndefinite() {
        fpu.top = (fpu.top - 1) & 7;
        setSt(0, IND_M, IND_SE);
    }

    void fpop() {
        fpu.tags &= ~(1 << fpu.top);
        fpu.top = (fpu.top + 1) & 7;
    }

    /** Stack overflow (C1 = 1) or underflow (C1 = 0): IE and SF; true when masked (the masked response proceeds). */
    boolean stackFault(boolean overflow) {
        fpu.fsw = (fpu.fsw & ~C1) | (overflow ? C1 : 0);
        return raise(IE | SFAULT);
    }

    /** Records exception flags; true unless an unmasked IE, DE or ZE forbids writing the result. */
    boolean raise(int flags) {
        fpu.fsw |= flags & 0x7f;
        updateSummary();
        return (flags & ~fpu.fcw & (IE | DE | ZE)) == 0;
    }

    void setCc(int cc) {
        fpu.fsw = (fpu.fsw & ~CC) | cc;
    }

    /** The SoftFloat context from the control word; {@code arith}: precision control applies. */
    SoftFloat x87Context(boolean arith) {
        SoftFloat sf = fpu.sf;
        sf.rc = (fpu.fcw >>> 10) & 3;
        int pc = (fpu.fcw >>> 8) & 3;
        sf.extPrecision = !arith ? 64 : pc == 0 ? 24 : pc == 2 ? 53 : 64;
        sf.daz = false;
        sf.ftz = false;
        sf.underflowMasked = (fpu.fcw & SoftFloat.UE) != 0;
        sf.flags = 0;
        return sf;
    }

    Num num(SoftFloat sf, int i) {
        return sf.unpack(EXT, mant(i), se(i));
    }

    /** Finishes an operation that produced an extended result in SoftFloat: flags, C1 from rounding, the write. */
    void result(SoftFloat sf, int i, long m) {
        int se = sf.se;
        setCc(sf.roundedUp && (sf.flags & PE) != 0 ? C1 : 0);
        if (raise(sf.flags)) {
            setSt(i, m, se);
        }
    }

    // ---------------------------------------------------------------- dispatch

    @Override
    void x87Arith(int op, int b, int which, boolean mem) {
        if (mem) {
            memoryForm(op, which);
        } else {
            registerForm(op, b, which, b & 7);
        }
    }

    private void memoryForm(int op, int which) {
        SoftFloat sf = x87Context(false);
        switch (op) {
            case 0xd8, 0xdc, 0xda, 0xde -> {
                Num src = switch (op) {
                    case 0xd8 -> sf.unpack(SINGLE, rd(ea, 4), 0);
                    case 0xdc -> sf.unpack(DOUBLE, rd(ea, 8), 0);
                    case 0xda -> integer(sf, Flags.sext(rd(ea, 4), 4));
                    default -> integer(sf, Flags.sext(rd(ea, 2), 2));
                };
                arith(which, src);
            }
            case 0xd9 -> {
                switch (which) {
                    case 0 -> load(sf, sf.unpack(SINGLE, rd(ea, 4), 0));
                    case 2, 3 -> storeFloat(SINGLE, which == 3);
                    default -> throw ud();
                }
            }
            case 0xdd -> {
                switch (which) {
                    case 0 -> load(sf, sf.unpack(DOUBLE, rd(ea, 8), 0));
                    case 2, 3 -> storeFloat(DOUBLE, which == 3);
                    default -> throw ud(); // 1: FISTTP (SSE3)
                }
            }
            case 0xdb -> {
                switch (which) {
                    case 0 -> load(sf, integer(sf, Flags.sext(rd(ea, 4), 4)));
                    case 2, 3 -> storeInt(4, which == 3);
                    case 5 -> {
                        long m = rd(ea, 8);
                        int se = (int) rd(ea + 8, 2);
                        setCc(0);
                        fpush(m, se); // FLD m80: exact, no exceptions
                    }
                    case 7 -> {
                        if (empty(0)) {
                            if (!stackFault(false)) {
                                return;
                            }
                            store80(IND_M, IND_SE);
                        } else {
                            store80(mant(0), se(0));
                            setCc(0);
                        }
                        fpop();
                    }
                    default -> throw ud();
                }
            }
            default -> { // DF
                switch (which) {
                    case 0 -> load(sf, integer(sf, Flags.sext(rd(ea, 2), 2)));
                    case 2, 3 -> storeInt(2, which == 3);
                    case 5 -> load(sf, integer(sf, rd(ea, 8)));
                    case 7 -> storeInt(8, true);
                    case 4 -> fbld();
                    case 6 -> fbstp();
                    default -> throw ud();
                }
            }
        }
    }

    private void store80(long m, int se) {
        translate(ea, WRITE);
        translate(ea + 9, WRITE);
        wr(ea, 8, m);
        wr(ea + 8, 2, se);
    }

    /** An integer operand, exact in the extended format. */
    Num integer(SoftFloat sf, long v) {
        long m = sf.fromInt(EXT, v);
        return sf.unpack(EXT, m, sf.se);
    }

    /** FLD/FILD: the value converted to extended (exactly; a signaling NaN is quieted with IE, a denormal raises DE), pushed. */
    private void load(SoftFloat sf, Num n) {
        long m = sf.convert(EXT, n);
        int se = sf.se;
        setCc(0);
        if ((fpu.tags & (1 << ((fpu.top - 1) & 7))) != 0) {
            fpush(m, se); // stack overflow
            return;
        }
        if (raise(sf.flags)) {
            fpush(m, se);
        }
    }

    /** FST/FSTP m32/m64: rounded to the format under RC; C1 set when rounded up. */
    private void storeFloat(Fmt f, boolean pop) {
        SoftFloat sf = x87Context(false);
        long v;
        if (empty(0)) {
            if (!stackFault(false)) {
                return;
            }
            v = sf.indefinite(f);
        } else {
            v = sf.convert(f, num(sf, 0));
            setCc(sf.roundedUp && (sf.flags & PE) != 0 ? C1 : 0);
            if (!raise(sf.flags & ~DE)) {
                return;
            }
        }
        wr(ea, f == SINGLE ? 4 : 8, v);
        if (pop) {
            fpop();
        }
    }

    /** FIST/FISTP: rounded under RC; out of range or NaN: IE and the integer indefinite when masked. */
    private void storeInt(int size, boolean pop) {
        SoftFloat sf = x87Context(false);
        long v;
        if (empty(0)) {
            if (!stackFault(false)) {
                return;
            }
            v = Long.MIN_VALUE >> (64 - 8 * size);
        } else {
            v = sf.toInt(num(sf, 0), 8 * size, false);
            setCc(sf.roundedUp && (sf.flags & PE) != 0 ? C1 : 0);
            if (!raise(sf.flags)) {
                return;
            }
        }
        wr(ea, size, v);
        if (pop) {
            fpop();
        }
    }

    // ---------------------------------------------------------------- register forms

    private void registerForm(int op, int b, int which, int i) {
        switch (op) {
            case 0xd8 -> {
                if (which == 2 || which == 3) {
                    compare(i, which == 3 ? 1 : 0, true, false);
                } else {
                    arithReg(which, 0, i, false);
                }
            }
            case 0xdc -> {
                if (which == 2 || which == 3) {
                    compare(i, which == 3 ? 1 : 0, true, false); // undocumented aliases of FCOM/FCOMP
                } else {
                    arithReg(which ^ (which >= 4 ? 1 : 0), i, 0, false); // DC: ST(i) op= ST0, SUB/SUBR and DIV/DIVR swapped
                }
            }
            case 0xde -> {
                if (which == 3 && i == 1) {
                    compare(1, 2, true, false); // FCOMPP
                } else if (which == 2 || which == 3) {
                    compare(i, 1, true, false); // alias of FCOMP
                } else {
                    arithReg(which ^ (which >= 4 ? 1 : 0), i, 0, true); // FADDP, FMULP, FSUBRP, FSUBP, FDIVRP, FDIVP
                }
            }
            case 0xd9 -> d9(b, which, i);
            case 0xda -> {
                if (b == 0xe9) {
                    compare(1, 2, false, false); // FUCOMPP
                } else if (which < 4) {
                    fcmov(which, i, false);
                } else {
                    throw ud();
                }
            }
            case 0xdb -> {
                if (which < 4) {
                    fcmov(which, i, true);
                } else if (which == 5 || which == 6) {
                    compare(i, 0, which == 6, true); // FUCOMI, FCOMI
                } else if (b >= 0xe0 && b <= 0xe4 && b != 0xe2 && b != 0xe3) {
                    // FENI, FDISI, FSETPM: 8087/287 controls, no-ops since the 387
                } else {
                    throw ud();
                }
            }
            case 0xdd -> {
                switch (which) {
                    case 0 -> fpu.tags &= ~(1 << fpu.phys(i)); // FFREE
                    case 1 -> fxch(i); // undocumented alias
                    case 2, 3 -> { // FST, FSTP ST(i)
                        if (empty(0)) {
                            if (!stackFault(false)) {
                                return;
                            }
                            setSt(i, IND_M, IND_SE);
                        } else {
                            setCc(0);
                            setSt(i, mant(0), se(0));
                        }
                        if (which == 3) {
                            fpop();
                        }
                    }
                    case 4, 5 -> compare(i, which == 5 ? 1 : 0, false, false); // FUCOM, FUCOMP
                    default -> throw ud();
                }
            }
            default -> { // DF
                if (which == 5 || which == 6) {
                    compare(i, 1, which == 6, true); // FUCOMIP, FCOMIP
                } else if (which == 0) {
                    fpu.tags &= ~(1 << fpu.phys(i)); // FFREEP
                    fpop();
                } else if (which == 1) {
                    fxch(i);
                } else if (which == 2 || which == 3) {
                    setCc(0); // FSTP aliases
                    if (empty(0)) {
                        if (!stackFault(false)) {
                            return;
                        }
                        setSt(i, IND_M, IND_SE);
                    } else {
                        setSt(i, mant(0), se(0));
                    }
                    fpop();
                } else {
                    throw ud();
                }
            }
        }
    }

    private void fxch(int i) {
        if (empty(0) || empty(i)) {
            if (!stackFault(false)) {
                return;
            }
            if (empty(0)) {
                setSt(0, IND_M, IND_SE);
            }
            if (empty(i)) {
                setSt(i, IND_M, IND_SE);
            }
        }
        setCc(0);
        long m = mant(0);
        int s = se(0);
        setSt(0, mant(i), se(i));
        setSt(i, m, s);
    }

    /** FCMOVcc's conditions as Jcc's condition codes: B, E, BE, P (unordered); DB's are their negations (odd). */
    private static final int[] FCMOV_CC = {2, 4, 6, 10};

    /** FCMOVcc: DA (B, E, BE, U) and DB (the negations). */
    private void fcmov(int which, int i, boolean negate) {
        boolean move = Conditions.ofFlags(FCMOV_CC[which] | (negate ? 1 : 0), rflags) != 0;
        if (empty(0) || empty(i)) {
            if (stackFault(false)) {
                setSt(0, IND_M, IND_SE);
            }
            return;
        }
        setCc(0);
        if (move) {
            setSt(0, mant(i), se(i));
        }
    }

    /** dest = dest op src for registers ST(dest), ST(src); {@code pop} afterwards. */
    private void arithReg(int which, int dest, int src, boolean pop) {
        SoftFloat sf = x87Context(true);
        if (empty(0) || empty(dest == 0 ? src : dest)) {
            if (stackFault(false)) {
                setSt(dest, IND_M, IND_SE);
                if (pop) {
                    fpop();
                }
            }
            return;
        }
        long m = op(sf, which, num(sf, dest), num(sf, src));
        result(sf, dest, m);
        if (pop && resultWritten(sf)) {
            fpop(); // an unmasked exception leaves the stack as it was
        }
    }

    private boolean resultWritten(SoftFloat sf) {
        return (sf.flags & ~fpu.fcw & (IE | DE | ZE)) == 0;
    }

    /** ST0 = ST0 op src (a memory operand). */
    private void arith(int which, Num src) {
        if (which == 2 || which == 3) {
            compareWith(src, which == 3 ? 1 : 0, true);
            return;
        }
        if (empty(0)) {
            if (stackFault(false)) {
                setSt(0, IND_M, IND_SE);
            }
            return;
        }
        SoftFloat sf = x87Context(true);
        long m = op(sf, which, num(sf, 0), src);
        result(sf, 0, m);
    }

    /** The arithmetic of ModRM.reg: 0 add, 1 mul, 4 sub, 5 subr, 6 div, 7 divr. */
    private static long op(SoftFloat sf, int which, Num a, Num b) {
        return switch (which) {
            case 0 -> sf.add(EXT, a, b, false, true);
            case 1 -> sf.mul(EXT, a, b, true);
            case 4 -> sf.add(EXT, a, b, true, true);
            case 5 -> sf.add(EXT, b, a, true, true);
            case 6 -> sf.div(EXT, a, b, true);
            default -> sf.div(EXT, b, a, true);
        };
    }

    // ---------------------------------------------------------------- compares

    /**
     * FCOM/FUCOM (ST0 with ST(i)), {@code pops} times popped, into C3/C2/C0 — or, for
     * {@code eflags}, FCOMI/FUCOMI into ZF/PF/CF. {@code signaling}: any NaN is invalid.
     */
    private void compare(int i, int pops, boolean signaling, boolean eflags) {
        SoftFloat sf = x87Context(false);
        int c;
        if (empty(0) || empty(i)) {
            if (!stackFault(false)) {
                return;
            }
            c = 2;
        } else {
            c = sf.compare(num(sf, 0), num(sf, i), signaling);
            if (!raise(sf.flags)) {
                return;
            }
        }
        conditions(c, eflags);
        for (int p = 0; p < pops; p++) {
            fpop();
        }
    }

    private void compareWith(Num src, int pops, boolean signaling) {
        SoftFloat sf = x87Context(false);
        int c;
        if (empty(0)) {
            if (!stackFault(false)) {
                return;
            }
            c = 2;
        } else {
            c = sf.compare(num(sf, 0), src, signaling);
            if (!raise(sf.flags)) {
                return;
            }
        }
        conditions(c, false);
        if (pops > 0) {
            fpop();
        }
    }

    private void conditions(int c, boolean eflags) {
        if (eflags) {
            fpu.fsw &= ~C1; // C0, C2, C3 unchanged
            setFlags(switch (c) {
                case 2 -> Flags.ZF | Flags.PF | Flags.CF;
                case -1 -> Flags.CF;
                case 0 -> Flags.ZF;
                default -> 0;
            });
            return;
        }
        setCc(switch (c) {
            case 2 -> C3 | C2 | C0;
            case -1 -> C0;
            case 0 -> C3;
            default -> 0;
        });
    }

    // ---------------------------------------------------------------- D9: loads of constants, unary operations

    private void d9(int b, int which, int i) {
        switch (which) {
            case 0 -> { // FLD ST(i)
                if (empty(i)) {
                    if (stackFault(false)) {
                        pushIndefinite();
                    }
                    return;
                }
                setCc(0);
                fpush(mant(i), se(i));
            }
            case 1 -> fxch(i);
            case 2 -> {
                if (b != 0xd0) {
                    throw ud();
                }
                // FNOP
            }
            case 3 -> { // FSTP1, undocumented alias of FSTP ST(i)
                setCc(0);
                if (empty(0)) {
                    if (!stackFault(false)) {
                        return;
                    }
                    setSt(i, IND_M, IND_SE);
                } else {
                    setSt(i, mant(0), se(0));
                }
                fpop();
            }
            case 4 -> unary(b);
            case 5 -> constant(b);
            default -> misc(b);
        }
    }

    /** FCHS, FABS, FTST, FXAM. */
    private void unary(int b) {
        switch (b) {
            case 0xe0, 0xe1 -> {
                if (empty(0)) {
                    if (stackFault(false)) {
                        setSt(0, IND_M, IND_SE);
                    }
                    return;
                }
                setCc(0);
                setSt(0, mant(0), b == 0xe0 ? se(0) ^ 0x8000 : se(0) & 0x7fff);
            }
            case 0xe4 -> { // FTST: compare with +0.0
                SoftFloat sf = x87Context(false);
                if (empty(0)) {
                    if (stackFault(false)) {
                        conditions(2, false);
                    }
                    return;
                }
                Num zero = sf.unpack(EXT, 0, 0);
                int c = sf.compare(num(sf, 0), zero, true);
                if (raise(sf.flags)) {
                    conditions(c, false);
                }
            }
            case 0xe5 -> { // FXAM: the class in C3/C2/C0, the sign in C1
                int se = se(0);
                long m = mant(0);
                int e = se & 0x7fff;
                int cls;
                if (empty(0)) {
                    cls = C3 | C0;
                } else if (e == 0x7fff) {
                    cls = m >= 0 ? 0 : (m << 1) == 0 ? C2 | C0 : C0;
                } else if (e == 0) {
                    cls = m == 0 ? C3 : C3 | C2;
                } else {
                    cls = m < 0 ? C2 : 0;
                }
                setCc(cls | ((se & 0x8000) != 0 ? C1 : 0));
            }
            default -> throw ud();
        }
    }

    /** FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ: the constants held to 128 bits, rounded under RC. */
    private void constant(int b) {
        if (b == 0xef) {
            throw ud();
        }
        setCc(0);
        if (b == 0xe8 || b == 0xee) {
            fpush(b == 0xe8 ? 1L << 63 : 0, b == 0xe8 ? 0x3fff : 0);
            return;
        }
        String[] hex = {"d49a784bcd1b8afe492bf6ff4dafdb4c", "b8aa3b295c17f0bbbe87fed0691d3e88", "c90fdaa22168c234c4c6628b80dc1cd1",
            "9a209a84fbcff7988f8959ac0b7c9178", "b17217f7d1cf79abc9e3b39803f2f6af"};
        int[] exp = {1, 0, 1, -2, -1};
        int k = b - 0xe9;
        SoftFloat sf = x87Context(false);
        long m = sf.round(EXT, false, new BigInteger(hex[k], 16), exp[k] - 127, false);
        fpush(m, sf.se);
    }

    /** D9 F0-FF. */
    private void misc(int b) {
        switch (b) {
            case 0xf6 -> {
                fpu.top = (fpu.top - 1) & 7; // FDECSTP
                setCc(0);
            }
            case 0xf7 -> {
                fpu.top = (fpu.top + 1) & 7; // FINCSTP
                setCc(0);
            }
            case 0xfa -> unaryArith(b); // FSQRT
            case 0xfc -> unaryArith(b); // FRNDINT
            case 0xfd -> fscale();
            case 0xf4 -> fxtract();
            case 0xf5, 0xf8 -> fprem(b == 0xf5);
            default -> transcendental(b);
        }
    }

    /** F2XM1, FYL2X, FPTAN, FPATAN, FYL2XP1, FSINCOS, FSIN, FCOS ({@link X87Special}). */
    abstract void transcendental(int b);

    abstract long roundToInteger(SoftFloat sf, Num a);

    abstract void fscale();

    abstract void fxtract();

    abstract void fprem(boolean ieee);

    abstract void fbld();

    abstract void fbstp();

    private void unaryArith(int b) {
        SoftFloat sf = x87Context(b == 0xfa);
        if (empty(0)) {
            if (stackFault(false)) {
                setSt(0, IND_M, IND_SE);
            }
            return;
        }
        Num a = num(sf, 0);
        long m;
        if (b == 0xfa) {
            m = sf.sqrt(EXT, a);
        } else {
            m = roundToInteger(sf, a);
        }
        result(sf, 0, m);
    }

    X87Arith(Wiring w) {
        super(w);
    }
}
