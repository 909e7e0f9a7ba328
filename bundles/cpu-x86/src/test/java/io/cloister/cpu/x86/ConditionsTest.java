package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.junit.jupiter.api.Test;

/**
 * The condition rule of each lazy-flag state (what the decoded path and compiled blocks read)
 * against the same rule of the exact flags the ALU computes for that operation (what the
 * interpreter reads, and the host-CPU oracle checks), every condition, edge and random operands.
 */
class ConditionsTest {
    private static final long[] EDGES = {0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffffL, 0x80000000L, 0xffffffffL,
        Long.MAX_VALUE, Long.MIN_VALUE};

    @Test
    void eachLazyStateReadsAsItsExactFlags() {
        Random rnd = new Random(5);
        int checked = 0;
        for (int size : new int[] {1, 2, 4, 8}) {
            long m = Flags.mask(size);
            for (int t = 0; t < 2000; t++) {
                long a = (t < EDGES.length * EDGES.length ? EDGES[t % EDGES.length] : rnd.nextLong() >> rnd.nextInt(64)) & m;
                long b = (t < EDGES.length * EDGES.length ? EDGES[t / EDGES.length] : t % 7 == 0 ? a : rnd.nextLong() >> rnd.nextInt(64)) & m;
                long carry = t & 1;
                for (int cc = 0; cc < 16; cc++) {
                    String what = "cc " + cc + " size " + size + " a " + Long.toHexString(a) + " b " + Long.toHexString(b);
                    assertEquals(Conditions.ofFlags(cc, Flags.sub(a, b, 0, size)), Conditions.afterSub(cc, a, b, size), "sub " + what);
                    assertEquals(Conditions.ofFlags(cc, Flags.sub(0, b, 0, size)), Conditions.afterSub(cc, 0, b, size), "neg " + what);
                    assertEquals(Conditions.ofFlags(cc, Flags.add(a, b, 0, size)), Conditions.afterAdd(cc, a, b, size), "add " + what);
                    assertEquals(Conditions.ofFlags(cc, Flags.logic(a & b, size)), Conditions.afterLogic(cc, a & b, size), "and " + what);
                    long inc = (a + 1) & m;
                    long dec = (a - 1) & m;
                    assertEquals(Conditions.ofFlags(cc, Flags.add(a, 1, 0, size) & ~Flags.CF | carry),
                            Conditions.afterIncDec(cc, true, a, inc, carry, size), "inc " + what);
                    assertEquals(Conditions.ofFlags(cc, Flags.sub(a, 1, 0, size) & ~Flags.CF | carry),
                            Conditions.afterIncDec(cc, false, a, dec, carry, size), "dec " + what);
                    long cfOf = (b & 1) | (b & Flags.OF);
                    assertEquals(Conditions.ofFlags(cc, cfOf | Flags.szp(a, size)), Conditions.afterShift(cc, a, cfOf, size), "shift " + what);
                    checked++;
                }
            }
        }
        assertEquals(4 * 2000 * 16, checked);
    }

    /** The rule itself, condition by condition, as the SDM's table B-1 states it. */
    @Test
    void theRuleIsTheManualsTable() {
        for (int f = 0; f < 32; f++) {
            long flags = ((f & 1) != 0 ? Flags.OF : 0) | ((f & 2) != 0 ? Flags.CF : 0) | ((f & 4) != 0 ? Flags.ZF : 0)
                    | ((f & 8) != 0 ? Flags.SF : 0) | ((f & 16) != 0 ? Flags.PF : 0);
            boolean of = (f & 1) != 0;
            boolean cf = (f & 2) != 0;
            boolean zf = (f & 4) != 0;
            boolean sf = (f & 8) != 0;
            boolean pf = (f & 16) != 0;
            boolean[] expected = {of, cf, zf, cf || zf, sf, pf, sf != of, zf || sf != of};
            for (int cc = 0; cc < 16; cc++) {
                boolean holds = expected[cc >>> 1] != ((cc & 1) != 0);
                assertEquals(holds ? 1 : 0, Conditions.ofFlags(cc, flags), "cc " + cc + " flags " + Long.toHexString(flags));
            }
        }
    }
}
