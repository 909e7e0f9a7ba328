package io.cloister.cpu.x86;

/**
 * The x86 condition codes of Jcc, SETcc and CMOVcc (SDM vol. 1, table B-1), written once: {@link #test}
 * is the rule, and the other methods give it the flags as each lazy-flag state defines them.
 * Every path calls these: the interpreter with exact rflags, the decoded path through
 * {@code Alu.condFast}, and compiled blocks directly, with the condition and the size as constants
 * and the operands of the block's last flag-setting instruction in locals. There the JIT inlines
 * them and, the condition being constant, keeps only the flags it reads: a compare and branch
 * compiles to what a hand-emitted comparison did.
 *
 * <p>Flags are ints, 0 or 1, and the rule is bit operations rather than a switch: the JIT's inlining
 * budget of a compiled block counts the bytecodes of every method inlined into it (a switch here
 * once pushed the memory accesses of the largest blocks out of it), and the decoded path, where
 * the condition is not constant, runs it without a jump through a table.
 */
final class Conditions {
    // Which flag each pair of conditions reads: bit t (cc >>> 1) of each mask.
    //           t:  7  6  5  4  3  2  1  0
    //               LE L  P  S  BE E  B  O
    // OF            .  .  .  .  .  .  .  1
    // CF            .  .  .  .  1  .  1  .
    // ZF            1  .  .  .  1  1  .  .
    // SF            .  .  .  1  .  .  .  .
    // PF            .  .  1  .  .  .  .  .
    // SF != OF      1  1  .  .  .  .  .  .
    // (LE: ZF or SF != OF; BE: CF or ZF). An odd cc is its pair's negation. With cc constant the
    // masks fold, and the JIT drops the computation of every flag the condition does not read.
    private static final int READS_OF = 0b00000001;
    private static final int READS_CF = 0b00001010;
    private static final int READS_ZF = 0b10001100;
    private static final int READS_SF = 0b00010000;
    private static final int READS_PF = 0b00100000;
    private static final int READS_LESS = 0b11000000;

    private Conditions() {
    }

    /**
     * Condition {@code cc} (0-15: O NO B AE E NE BE A S NS P NP L GE LE G) of these flags (each 0
     * or 1), and of {@code less}, SF != OF, which a subtraction gives as the signed comparison of
     * its operands: 1 if it holds.
     */
    static int test(int cc, int of, int cf, int zf, int sf, int pf, int less) {
        int t = cc >>> 1;
        int v = of & READS_OF >>> t | cf & READS_CF >>> t | zf & READS_ZF >>> t | sf & READS_SF >>> t | pf & READS_PF >>> t
                | less & READS_LESS >>> t;
        return v ^ cc & 1;
    }

    /** From exact rflags. */
    static int ofFlags(int cc, long f) {
        int of = (int) (f >>> 11) & 1;
        int sf = (int) (f >>> 7) & 1;
        return test(cc, of, (int) f & 1, (int) (f >>> 6) & 1, sf, (int) (f >>> 2) & 1, sf ^ of);
    }

    /**
     * After SUB, CMP or NEG (0 - b) of {@code a} and {@code b}, both masked to {@code size}: the
     * difference unmasked has the masked one's low bits, up to its sign bit. Comparisons rather
     * than bit arithmetic where one exists (CF, ZF, SF != OF): a branch on one compiles to a
     * single compare and jump.
     */
    static int afterSub(int cc, long a, long b, int size) {
        long res = a - b;
        int sign = size * 8 - 1;
        int top = 63 - sign; // shifted left by top, the operands' sign is the long's
        return test(cc, (int) (((a ^ b) & (a ^ res)) >>> sign) & 1, Long.compareUnsigned(a, b) < 0 ? 1 : 0, a == b ? 1 : 0,
                (int) (res >>> sign) & 1, even(res), a << top < b << top ? 1 : 0);
    }

    /** After ADD of {@code a} and {@code b}, both masked to {@code size}: a carry leaves the sum below a, at the size. */
    static int afterAdd(int cc, long a, long b, int size) {
        long res = a + b;
        int sign = size * 8 - 1;
        int top = 63 - sign;
        int of = (int) (((a ^ res) & (b ^ res)) >>> sign) & 1;
        int sf = (int) (res >>> sign) & 1;
        return test(cc, of, Long.compareUnsigned(res << top, a << top) < 0 ? 1 : 0, res << top == 0 ? 1 : 0, sf, even(res), sf ^ of);
    }

    /** After AND, OR, XOR or TEST with this result (masked): CF = OF = 0. */
    static int afterLogic(int cc, long res, int size) {
        int sf = (int) (res >>> (size * 8 - 1)) & 1;
        return test(cc, 0, 0, res == 0 ? 1 : 0, sf, even(res), sf);
    }

    /** After SHL, SHR or SAR with this result (masked), CF and OF given as rflags bits. */
    static int afterShift(int cc, long res, long cfOf, int size) {
        int of = (int) (cfOf >>> 11) & 1;
        int sf = (int) (res >>> (size * 8 - 1)) & 1;
        return test(cc, of, (int) cfOf & 1, res == 0 ? 1 : 0, sf, even(res), sf ^ of);
    }

    /**
     * After INC or DEC of {@code a} to {@code res} (both masked), CF ({@code carry}, 0 or 1) kept
     * from before: it overflows only to the sign bit alone (INC) or from it (DEC).
     */
    static int afterIncDec(int cc, boolean inc, long a, long res, long carry, int size) {
        int sign = size * 8 - 1;
        int of = (inc ? res : a) == 1L << sign ? 1 : 0;
        int sf = (int) (res >>> sign) & 1;
        return test(cc, of, (int) carry, res == 0 ? 1 : 0, sf, even(res), sf ^ of);
    }

    /** PF: 1 for an even number of ones in the low byte. */
    private static int even(long res) {
        return ~Integer.bitCount((int) res & 0xff) & 1;
    }
}
