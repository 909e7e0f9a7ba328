package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Flags.AF;
import static io.cloister.cpu.x86.Flags.CF;
import static io.cloister.cpu.x86.Flags.OF;
import static io.cloister.cpu.x86.Flags.PF;
import static io.cloister.cpu.x86.Flags.SF;
import static io.cloister.cpu.x86.Flags.ZF;

import java.math.BigInteger;

/**
 * The integer ALU and its flags: the eight classic operations, shifts and rotates, multiply and
 * divide, condition codes; and the lazy flags of the decoded path and compiled blocks, which keep
 * the operands of the last flag-setting operation and compute flags only when read.
 */
abstract class Alu extends LockedAccess {
    // Lazy arithmetic flags of the decoded path: the last ADD, SUB/CMP or logic operation, whose
    // flags are computed only when read. LAZY_NONE means rflags holds them; everything outside
    // the decoded path sees exact rflags (materialize() runs before it).
    static final int LAZY_NONE = 0, LAZY_ADD = 1, LAZY_SUB = 2, LAZY_LOGIC = 3, LAZY_INC = 4, LAZY_DEC = 5, LAZY_SHIFT = 6,
            LAZY_ADC = 7, LAZY_SBB = 8;
    // LAZY_SHIFT: CF and OF known (lazyB, as rflags bits), SF ZF PF of the result, AF 0: SHL/SHR/SAR and IMUL.
    // LAZY_ADC, LAZY_SBB: the operands and the result, from which the carry in is found again
    // (adcCarryIn), so the record is as small as ADD's.
    private int lazyOp;
    private long lazyA;
    private long lazyB;
    private long lazyRes;
    private int lazySize;

    /** Condition {@code cc} of the exact rflags (the interpreter keeps them exact). */
    boolean cond(int cc) {
        return Conditions.ofFlags(cc, rflags) != 0;
    }

    void setFlags(long arith) {
        rflags = (rflags & ~Flags.ARITH) | arith;
    }

    /** The arithmetic flags as a native block left them, exact: the lazy record dropped. */
    void exactFlags(long arith) {
        lazyOp = LAZY_NONE;
        rflags = (rflags & ~Flags.ARITH) | (arith & Flags.ARITH);
    }

    /**
     * The eight classic ALU operations with exact flags, for the interpreter; returns the result
     * (CMP's is discarded by the caller). The same semantics as the decoded path and compiled
     * blocks: {@link #aluFast}, its flags put into rflags at once.
     */
    long alu(int op, long a, long b, int size) {
        long res = aluFast(op, a, b, size);
        materialize();
        return res;
    }

    /**
     * ADC (2) and SBB (3) with lazy flags, the carry in as it stands. They write all six flags, so
     * the lazy flags before them need only their CF ({@link #carryFlag}), not materializing.
     */
    private long adcSbb(int op, long a, long b, int size) {
        return op == 2 ? adcFast(a, b, carryFlag(), size) : sbbFast(a, b, carryFlag(), size);
    }

    // ADC and SBB with the carry in given (0 or 1): compiled blocks pass it from their own record of
    // the flag-setting instruction before, where they have one (BlockEmitter.carry). The Linux
    // kernel's multi-precision loops (lib/mpi) put a store between an ADC and the ADD that
    // overwrites its flags; the store may fault, so the ADC's flags must be kept, and computing all
    // six at once each time made those loops run at half the speed of the same loop without it.

    long adcFast(long a, long b, long carryIn, int size) {
        long m = Flags.mask(size);
        return lazy(LAZY_ADC, a & m, b & m, a + b + carryIn & m, size);
    }

    long sbbFast(long a, long b, long carryIn, int size) {
        long m = Flags.mask(size);
        return lazy(LAZY_SBB, a & m, b & m, a - b - carryIn & m, size);
    }

    /** The carry into the pending lazy ADC or SBB: the result less the operands' sum or difference, 0 or 1. */
    private long adcCarryIn() {
        long m = Flags.mask(lazySize);
        return (lazyOp == LAZY_ADC ? lazyRes - lazyA - lazyB : lazyA - lazyB - lazyRes) & m;
    }

    /** The pending ADC's or SBB's CF, by the rule its six flags use (Flags.add, Flags.sub). */
    private long adcCarryOut() {
        long in = adcCarryIn();
        boolean c = lazyOp == LAZY_ADC ? Flags.addCarries(lazyA, lazyB, in, lazySize) : Flags.subBorrows(lazyA, lazyB, in, lazySize);
        return c ? 1 : 0;
    }

    /** The pending ADC's or SBB's six flags. */
    private long adcFlags() {
        return lazyOp == LAZY_ADC ? Flags.add(lazyA, lazyB, adcCarryIn(), lazySize) : Flags.sub(lazyA, lazyB, adcCarryIn(), lazySize);
    }

    /**
     * IMUL r, r/m and IMUL r, r/m, imm with lazy flags, kept as a shift's: CF = OF = the product
     * does not fit the size; SF, ZF and PF from the result, AF 0. The SDM leaves SF ZF AF PF
     * undefined; these are the values QEMU's TCG gives them, and writing all six lets FlagLiveness
     * drop an IMUL's flags that a later instruction overwrites.
     */
    long imulFast(long a, long b, int size) {
        long lo = a * b;
        boolean overflow = size == 8 ? Math.multiplyHigh(a, b) != (lo >> 63) : Flags.sext(lo, size) != lo;
        long res = lo & Flags.mask(size);
        lazyOp = LAZY_SHIFT;
        lazyB = overflow ? CF | OF : 0;
        lazyRes = res;
        lazySize = size;
        return res;
    }

    /**
     * SHL/SHR/SAR with lazy flags: CF and OF are known at once (kept in lazyB), ZF/SF/PF come from
     * the result when read. Rotates and a zero count take the exact path.
     */
    long shiftFast(int which, long v, int count, int size) {
        int bits = size * 8;
        count &= size == 8 ? 63 : 31;
        if (count == 0 || which < 4) {
            materialize();
            return shift(which, v, count, size);
        }
        long m = Flags.mask(size);
        long sign = Flags.signBit(size);
        v &= m;
        long res;
        long cf;
        long of;
        switch (which) {
            case 4, 6 -> {
                res = count >= bits ? 0 : (v << count) & m;
                cf = count > bits ? 0 : (v >>> (bits - count)) & 1;
                of = ((res & sign) != 0 ? 1 : 0) ^ cf;
            }
            case 5 -> {
                res = count >= bits ? 0 : v >>> count;
                cf = count > bits ? 0 : (v >>> (count - 1)) & 1;
                of = (v & sign) != 0 ? 1 : 0;
            }
            default -> {
                long sv = Flags.sext(v, size);
                res = (sv >> Math.min(count, bits - 1)) & m;
                cf = (sv >> Math.min(count - 1, bits - 1)) & 1;
                of = 0;
            }
        }
        lazyOp = LAZY_SHIFT;
        lazyB = cf | (count == 1 && of != 0 ? OF : 0); // OF only for a count of 1, as shift() does
        lazyRes = res;
        lazySize = size;
        return res;
    }

    /** The ALU with lazy flags, for every path; ADC and SBB read CF, so they compute their flags at once. */
    long aluFast(int op, long a, long b, int size) {
        return switch (op) {
            case 0 -> addFast(a, b, size);
            case 5, 7 -> subFast(a, b, size);
            case 1, 4, 6 -> logicFast(op, a, b, size);
            default -> adcSbb(op, a, b, size);
        };
    }

    // ADD, SUB/CMP and the logic operations on their own: compiled blocks call these, whose operation
    // is known when the block is built, rather than aluFast, whose switch would count against the
    // block's inlining budget at every ALU instruction (C2 stops inlining into a method past 8,000
    // bytecodes).

    long addFast(long a, long b, int size) {
        long m = Flags.mask(size);
        return lazy(LAZY_ADD, a & m, b & m, a + b & m, size);
    }

    long subFast(long a, long b, int size) {
        long m = Flags.mask(size);
        return lazy(LAZY_SUB, a & m, b & m, a - b & m, size);
    }

    /** OR (1), AND (4), XOR (6): only the result is kept, CF = OF = 0. */
    long logicFast(int op, long a, long b, int size) {
        long res = op == 1 ? a | b : op == 4 ? a & b : a ^ b;
        return lazy(LAZY_LOGIC, 0, 0, res & Flags.mask(size), size);
    }

    private long lazy(int op, long a, long b, long res, int size) {
        lazyOp = op;
        lazyA = a;
        lazyB = b;
        lazyRes = res;
        lazySize = size;
        return res;
    }

    /** INC/DEC with lazy flags; CF stays what it was, so it is kept in lazyB. */
    long incDecFast(int which, long a, int size) {
        long m = Flags.mask(size);
        long carry = carryFlag();
        a &= m;
        long res = (which == 0 ? a + 1 : a - 1) & m;
        lazyOp = which == 0 ? LAZY_INC : LAZY_DEC;
        lazyA = a;
        lazyB = carry;
        lazyRes = res;
        lazySize = size;
        return res;
    }

    /** CF as it stands (0 or 1), without computing the other flags; compiled blocks call it for an ADC or SBB whose own flags nothing sees. */
    long carryFlag() {
        return switch (lazyOp) {
            case LAZY_NONE -> rflags & CF;
            case LAZY_ADD -> Long.compareUnsigned(lazyRes, lazyA) < 0 ? 1 : 0;
            case LAZY_SUB -> Long.compareUnsigned(lazyA, lazyB) < 0 ? 1 : 0;
            case LAZY_LOGIC -> 0;
            case LAZY_SHIFT -> lazyB & CF;
            case LAZY_ADC, LAZY_SBB -> adcCarryOut();
            default -> lazyB;
        };
    }

    /**
     * Group 3 on an operand already read: NOT and NEG return the value to write back (NEG with
     * lazy flags, as 0 - v); MUL/IMUL/DIV/IDIV work on the accumulator (a divide error faults
     * before anything changes) and return 0.
     */
    long group3Fast(int which, long v, int size) {
        long m = Flags.mask(size);
        switch (which) {
            case 2 -> {
                return ~v & m;
            }
            case 3 -> {
                return subFast(0, v, size); // NEG: 0 - v
            }
            case 4, 5 -> {
                materialize();
                mulAcc(which == 5, v, size);
            }
            default -> {
                materialize();
                divAcc(which == 7, v, size);
            }
        }
        return 0;
    }

    /** BSWAP of a 32- or 64-bit register value (16 bits is undefined and stays with the interpreter). */
    static long bswap(long v, int size) {
        return size == 8 ? Long.reverseBytes(v) : Integer.reverseBytes((int) v) & 0xffffffffL;
    }

    /** The {@link #bitScan} form of 0F B8, BC or BD with this repeat prefix (F3 makes B8 POPCNT and BD LZCNT). */
    static int bitScanForm(int op, int rep) {
        return op == 0xb8 ? 0 : op == 0xbc ? 1 : rep == 0xf3 ? 3 : 2;
    }

    /**
     * POPCNT (0), BSF (1), BSR (2), LZCNT (3) of {@code v} into register {@code reg}, for every path.
     * F3 0F BC stays BSF (TZCNT, BMI1, is not advertised). BSF and BSR of zero leave the destination
     * as it was (all 64 bits), set ZF and keep the other flags; LZCNT sets CF and ZF and keeps the rest.
     */
    void bitScan(int which, int reg, long v, int size) {
        if (which == 0) {
            setReg(reg, size, Long.bitCount(v));
            lazyOp = LAZY_NONE; // every arithmetic flag is written
            rflags = (rflags & ~Flags.ARITH) | (v == 0 ? ZF : 0);
            return;
        }
        materialize();
        if (which == 3) {
            int bits = size * 8;
            long n = v == 0 ? bits : Long.numberOfLeadingZeros(v) - (64 - bits);
            setReg(reg, size, n);
            rflags = (rflags & ~(CF | ZF)) | (v == 0 ? CF : 0) | (n == 0 ? ZF : 0);
        } else if (v == 0) {
            rflags |= ZF;
        } else {
            setReg(reg, size, which == 1 ? Long.numberOfTrailingZeros(v) : 63 - Long.numberOfLeadingZeros(v));
            rflags &= ~ZF;
        }
    }

    /** CMOVcc once the condition is known: a false condition still zero-extends a 32-bit destination. */
    void cmov(boolean taken, int reg, int size, long v) {
        if (taken) {
            setReg(reg, size, v);
        } else if (size == 4) {
            setReg(reg, 4, getReg(reg, 4));
        }
    }

    /** CBW/CWDE/CDQE (0) and CWD/CDQ/CQO (1). */
    void convert(int which, int size) {
        if (which == 0) {
            setReg(RAX, size, Flags.sext(getReg(RAX, size / 2), size / 2));
        } else {
            setReg(RDX, size, (Flags.sext(getReg(RAX, size), size) < 0) ? -1 : 0);
        }
    }

    /**
     * Puts the pending lazy flags into rflags. Kept tiny so that the JIT inlines the test into every
     * compiled block and helper that calls it (the switch below is over its inlining limit).
     */
    /** Whether rflags holds the arithmetic flags as they are (nothing lazy to compute). */
    final boolean flagsExact() {
        return lazyOp == LAZY_NONE;
    }

    void materialize() {
        if (lazyOp != LAZY_NONE) {
            materializeLazy();
        }
    }

    private void materializeLazy() {
        switch (lazyOp) {
            case LAZY_NONE -> {
                return;
            }
            case LAZY_ADD -> setFlags(Flags.add(lazyA, lazyB, 0, lazySize));
            case LAZY_SUB -> setFlags(Flags.sub(lazyA, lazyB, 0, lazySize));
            case LAZY_INC -> setFlags((Flags.add(lazyA, 1, 0, lazySize) & ~CF) | lazyB);
            case LAZY_DEC -> setFlags((Flags.sub(lazyA, 1, 0, lazySize) & ~CF) | lazyB);
            case LAZY_SHIFT -> setFlags(lazyB | Flags.szp(lazyRes, lazySize));
            case LAZY_ADC, LAZY_SBB -> setFlags(adcFlags());
            default -> setFlags(Flags.logic(lazyRes, lazySize));
        }
        lazyOp = LAZY_NONE;
    }

    /** A condition code of the lazy flags as they stand, without putting them into rflags. */
    boolean condFast(int cc) {
        int size = lazySize;
        return 0 != switch (lazyOp) {
            case LAZY_SUB -> Conditions.afterSub(cc, lazyA, lazyB, size);
            case LAZY_LOGIC -> Conditions.afterLogic(cc, lazyRes, size);
            case LAZY_ADD -> Conditions.afterAdd(cc, lazyA, lazyB, size);
            case LAZY_SHIFT -> Conditions.afterShift(cc, lazyRes, lazyB, size);
            case LAZY_INC, LAZY_DEC -> Conditions.afterIncDec(cc, lazyOp == LAZY_INC, lazyA, lazyRes, lazyB, size);
            case LAZY_ADC, LAZY_SBB -> Conditions.ofFlags(cc, adcFlags());
            default -> Conditions.ofFlags(cc, rflags);
        };
    }

    /** MUL/IMUL with the accumulator: CF = OF = the high half is significant. */
    void mulAcc(boolean signed, long src, int size) {
        long a = getReg(RAX, size);
        long lo;
        long hi;
        boolean overflow;
        if (size == 8) {
            lo = a * src;
            hi = signed ? Math.multiplyHigh(a, src) : Math.unsignedMultiplyHigh(a, src);
            overflow = signed ? hi != (lo >> 63) : hi != 0;
        } else {
            int bits = size * 8;
            long full = signed ? Flags.sext(a, size) * Flags.sext(src, size) : a * (src & Flags.mask(size));
            lo = full & Flags.mask(size);
            hi = (full >> bits) & Flags.mask(size);
            overflow = signed ? Flags.sext(full, size) != full : (full >>> bits) != 0;
        }
        if (size == 1) {
            setReg(RAX, 2, (hi << 8) | lo);
        } else {
            setReg(RAX, size, lo);
            setReg(RDX, size, hi);
        }
        setFlags((rflags & (ZF | SF | PF | AF)) | (overflow ? CF | OF : 0)); // SF, ZF, PF, AF: undefined, kept
    }

    /** DIV/IDIV of rDX:rAX (AX for bytes); #DE on a zero divisor or a quotient that does not fit. */
    void divAcc(boolean signed, long src, int size) {
        if ((src & Flags.mask(size)) == 0) {
            throw fault(VEC_DE);
        }
        long q;
        long rem;
        if (size == 8) {
            long hi = r[RDX];
            long lo = r[RAX];
            if (!signed && hi == 0) {
                q = Long.divideUnsigned(lo, src);
                rem = Long.remainderUnsigned(lo, src);
            } else if (signed && hi == (lo >> 63) && !(lo == Long.MIN_VALUE && src == -1)) {
                q = lo / src;
                rem = lo % src;
            } else {
                BigInteger dividend = new BigInteger(1, toBytes(hi, lo));
                if (signed && hi < 0) {
                    dividend = dividend.subtract(BigInteger.ONE.shiftLeft(128));
                }
                BigInteger divisor = signed ? BigInteger.valueOf(src) : new BigInteger(Long.toUnsignedString(src));
                BigInteger[] qr = dividend.divideAndRemainder(divisor);
                boolean fits = signed ? qr[0].bitLength() <= 63 : qr[0].signum() >= 0 && qr[0].bitLength() <= 64;
                if (!fits) {
                    throw fault(VEC_DE);
                }
                q = qr[0].longValue();
                rem = qr[1].longValue();
            }
            r[RAX] = q;
            r[RDX] = rem;
            return;
        }
        int bits = size * 8;
        long dividend = size == 1 ? getReg(RAX, 2) : (getReg(RDX, size) << bits) | getReg(RAX, size);
        if (signed) {
            long d = size == 1 ? (short) dividend : size == 2 ? (int) dividend : dividend;
            long s = Flags.sext(src, size);
            q = d / s;
            rem = d % s;
            if (q != Flags.sext(q, size)) {
                throw fault(VEC_DE);
            }
        } else {
            long s = src & Flags.mask(size);
            q = Long.divideUnsigned(dividend, s);
            rem = Long.remainderUnsigned(dividend, s);
            if ((q & ~Flags.mask(size)) != 0) {
                throw fault(VEC_DE);
            }
        }
        if (size == 1) {
            setReg(RAX, 2, ((rem & 0xff) << 8) | (q & 0xff));
        } else {
            setReg(RAX, size, q);
            setReg(RDX, size, rem);
        }
    }

    private static byte[] toBytes(long hi, long lo) {
        byte[] b = new byte[16];
        for (int i = 0; i < 8; i++) {
            b[i] = (byte) (hi >>> (56 - 8 * i));
            b[8 + i] = (byte) (lo >>> (56 - 8 * i));
        }
        return b;
    }

    /** Two- and three-operand IMUL for the interpreter: {@link #imulFast} with its flags put into rflags at once. */
    long imul(long a, long b, int size) {
        long res = imulFast(a, b, size);
        materialize();
        return res;
    }

    /** ROL ROR RCL RCR SHL SHR SAL SAR; a count of zero changes nothing. */
    long shift(int which, long v, int count, int size) {
        int bits = size * 8;
        count &= size == 8 ? 63 : 31;
        long m = Flags.mask(size);
        v &= m;
        if (count == 0) {
            return v;
        }
        if (which >= 4) { // SHL SHR SAL SAR: computed once, in shiftFast
            long res = shiftFast(which, v, count, size);
            materialize(); // the interpreter keeps rflags exact
            return res;
        }
        long sign = Flags.signBit(size);
        long f = rflags;
        long res;
        switch (which) {
            case 0 -> { // ROL
                int c = count % bits;
                res = ((v << c) | (c == 0 ? 0 : v >>> (bits - c))) & m;
                long cf = res & 1;
                f = (f & ~(CF | OF)) | cf | ((((res & sign) != 0 ? 1 : 0) ^ cf) != 0 ? OF : 0);
            }
            case 1 -> { // ROR
                int c = count % bits;
                res = ((v >>> c) | (c == 0 ? 0 : v << (bits - c))) & m;
                boolean msb = (res & sign) != 0;
                boolean msb2 = (res & (sign >>> 1)) != 0;
                f = (f & ~(CF | OF)) | (msb ? CF : 0) | (msb != msb2 ? OF : 0);
            }
            default -> { // RCL, RCR (2, 3): rotate through carry, size+1 bits
                int c = size <= 2 ? count % (bits + 1) : count;
                long carry = f & CF;
                res = v;
                for (int i = 0; i < c; i++) {
                    if (which == 2) {
                        long out = (res & sign) != 0 ? 1 : 0;
                        res = ((res << 1) | carry) & m;
                        carry = out;
                    } else {
                        long out = res & 1;
                        res = (res >>> 1) | (carry != 0 ? sign : 0);
                        carry = out;
                    }
                }
                boolean msb = (res & sign) != 0;
                long of = which == 2 ? ((msb ? 1 : 0) ^ carry) : (msb != ((res & (sign >>> 1)) != 0) ? 1 : 0);
                f = (f & ~(CF | OF)) | carry | (of != 0 ? OF : 0);
            }
        }
        rflags = f;
        return res;
    }

    /** SHLD / SHRD. */
    long doubleShift(boolean right, long dest, long src, int count, int size) {
        int bits = size * 8;
        count &= size == 8 ? 63 : 31;
        long m = Flags.mask(size);
        dest &= m;
        src &= m;
        if (count == 0) {
            return dest;
        }
        long res;
        long cf;
        if (right) {
            res = ((dest >>> count) | (src << (bits - count))) & m;
            cf = (dest >>> (count - 1)) & 1;
        } else {
            res = ((dest << count) | (src >>> (bits - count))) & m;
            cf = (dest >>> (bits - count)) & 1;
        }
        long of = ((res ^ dest) & Flags.signBit(size)) != 0 ? OF : 0;
        rflags = (rflags & ~Flags.ARITH) | cf | Flags.szp(res, size) | (count == 1 ? of : 0);
        return res;
    }

    Alu(Wiring w) {
        super(w);
    }
}
