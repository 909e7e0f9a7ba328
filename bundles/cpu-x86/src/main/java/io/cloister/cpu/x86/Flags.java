package io.cloister.cpu.x86;

/** RFLAGS bits and the arithmetic flag computations, exact as the hardware defines them. */
final class Flags {
    static final long CF = 1L;
    static final long PF = 1L << 2;
    static final long AF = 1L << 4;
    static final long ZF = 1L << 6;
    static final long SF = 1L << 7;
    static final long TF = 1L << 8;
    static final long IF = 1L << 9;
    static final long DF = 1L << 10;
    static final long OF = 1L << 11;
    static final long ARITH = CF | PF | AF | ZF | SF | OF;
    /** Bit 1 always reads as one. */
    static final long FIXED = 1L << 1;

    private static final long[] PARITY = new long[256];

    static {
        for (int i = 0; i < 256; i++) {
            PARITY[i] = (Integer.bitCount(i) & 1) == 0 ? PF : 0;
        }
    }

    private Flags() {
    }

    static long mask(int size) {
        return size == 8 ? -1L : (1L << (size * 8)) - 1;
    }

    static long signBit(int size) {
        return 1L << (size * 8 - 1);
    }

    /** Sign-extends the low {@code size} bytes. */
    static long sext(long v, int size) {
        return switch (size) {
            case 1 -> (byte) v;
            case 2 -> (short) v;
            case 4 -> (int) v;
            default -> v;
        };
    }

    /** ZF, SF, PF of a result. */
    static long szp(long res, int size) {
        long m = res & mask(size);
        return (m == 0 ? ZF : 0) | ((m & signBit(size)) != 0 ? SF : 0) | PARITY[(int) (m & 0xff)];
    }

    static long add(long a, long b, long carry, int size) {
        long res = a + b + carry;
        long cf = addCarries(a, b, carry, size) ? CF : 0;
        long of = (((a ^ res) & (b ^ res)) & signBit(size)) != 0 ? OF : 0;
        long af = ((a ^ b ^ res) & 0x10) != 0 ? AF : 0;
        return cf | of | af | szp(res, size);
    }

    static long sub(long a, long b, long borrow, int size) {
        long res = a - b - borrow;
        long cf = subBorrows(a, b, borrow, size) ? CF : 0;
        long of = (((a ^ b) & (a ^ res)) & signBit(size)) != 0 ? OF : 0;
        long af = ((a ^ b ^ res) & 0x10) != 0 ? AF : 0;
        return cf | of | af | szp(res, size);
    }

    /** CF of a + b + carry (carry 0 or 1) at this size. */
    static boolean addCarries(long a, long b, long carry, int size) {
        if (size == 8) {
            long res = a + b + carry;
            return carry == 0 ? Long.compareUnsigned(res, a) < 0 : Long.compareUnsigned(res, a) <= 0;
        }
        long m = mask(size);
        return (a & m) + (b & m) + carry > m;
    }

    /** CF of a - b - borrow (borrow 0 or 1) at this size. */
    static boolean subBorrows(long a, long b, long borrow, int size) {
        if (size == 8) {
            return borrow == 0 ? Long.compareUnsigned(a, b) < 0 : Long.compareUnsigned(a, b) <= 0;
        }
        long m = mask(size);
        return (a & m) < (b & m) + borrow;
    }

    /** AND, OR, XOR, TEST: CF = OF = 0, AF undefined (0 here, as on current Intel and AMD parts). */
    static long logic(long res, int size) {
        return szp(res, size);
    }
}
