package io.cloister.cpu.x86.apic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The APIC timer on a hand-moved clock (SDM 11.5.4): 1 GHz bus, divide configuration, the three modes. */
class TimerTest {
    final TestVm t = new TestVm();
    final LocalApic a = t.a0;

    /** Takes the pending interrupt and ends it, as a handler would; the vector or -1. */
    int handle() {
        int v = a.takeInterrupt(true);
        if (v >= 0) {
            a.writeMmio(0xb0, 0);
        }
        return v;
    }

    @Test
    void divisors() {
        int[] expected = {2, 4, 8, 16, 32, 64, 128, 1};
        for (int v = 0; v < 8; v++) {
            int config = (v & 3) | (v & 4) << 1;
            assertEquals(expected[v], ApicTimer.divisor(config), "config 0x" + Integer.toHexString(config));
        }
    }

    @Test
    void oneShotCountsDownAndFiresOnce() {
        a.writeMmio(0x3e0, 0x3); // divide by 16
        a.writeMmio(0x320, 0x40);
        a.writeMmio(0x380, 1000); // 16 µs
        assertEquals(1000L, a.readMmio(0x390));
        t.clock.advance(1600);
        assertEquals(900L, a.readMmio(0x390));
        assertEquals(-1, handle());
        assertEquals(1, t.clock.advanceTo(16_000));
        assertEquals(0L, a.readMmio(0x390));
        assertEquals(1000L, a.readMmio(0x380), "the initial count stays");
        assertEquals(0x40, handle());
        assertEquals(0, t.clock.advance(1_000_000), "one-shot");
        assertEquals(-1, handle());
    }

    @Test
    void periodicReloads() {
        a.writeMmio(0x3e0, 0xb); // divide by 1
        a.writeMmio(0x320, 0x20000 | 0x41);
        a.writeMmio(0x380, 500_000); // 0.5 ms
        t.clock.advance(700_000);
        assertEquals(300_000L, a.readMmio(0x390), "reloaded after 500000 counts");
        assertEquals(0x41, handle());
        assertEquals(4, t.clock.advance(2_000_000));
        assertEquals(0x41, handle(), "expiries while one is pending merge in the IRR");
        assertEquals(-1, handle());
    }

    @Test
    void periodicBelowTheMinimumPeriodIsClamped() {
        a.writeMmio(0x3e0, 0xb);
        a.writeMmio(0x320, 0x20000 | 0x41);
        a.writeMmio(0x380, 1);
        assertEquals(10, t.clock.advance(ApicTimer.MIN_PERIOD_NS * 10), "one expiry per minimum period, not per nanosecond");
    }

    @Test
    void zeroInitialCountStops() {
        a.writeMmio(0x320, 0x20041);
        a.writeMmio(0x380, 1_000_000);
        a.writeMmio(0x380, 0);
        assertEquals(0, t.clock.advance(10_000_000));
        assertEquals(0L, a.readMmio(0x390));
    }

    @Test
    void maskedTimerCountsWithoutInterrupting() {
        a.writeMmio(0x320, 0x10040);
        a.writeMmio(0x380, 100);
        t.clock.advance(1_000);
        assertEquals(-1, handle());
        assertEquals(0L, a.readMmio(0x390));
    }

    @Test
    void newDivisorContinuesFromTheCurrentCount() {
        a.writeMmio(0x3e0, 0xb); // by 1
        a.writeMmio(0x320, 0x40);
        a.writeMmio(0x380, 1000);
        t.clock.advance(400);
        a.writeMmio(0x3e0, 0x0); // by 2: 600 counts left take 1200 ns
        assertEquals(600L, a.readMmio(0x390));
        assertEquals(0, t.clock.advance(1199));
        assertEquals(1, t.clock.advance(1));
        assertEquals(0x40, handle());
    }

    @Test
    void tscDeadline() {
        assertEquals(0L, (long) a.readMsr(LocalApic.MSR_TSC_DEADLINE));
        assertTrue(a.writeMsr(LocalApic.MSR_TSC_DEADLINE, 1000), "accepted...");
        assertEquals(0L, (long) a.readMsr(LocalApic.MSR_TSC_DEADLINE), "...but ignored outside TSC-deadline mode");
        a.writeMmio(0x320, 0x40042);
        a.writeMmio(0x380, 5); // ignored in this mode
        assertEquals(0, t.clock.advance(1_000_000));
        long tsc = a.tsc();
        assertEquals(2_000_000L, tsc, "2 GHz TSC at 1 ms");
        assertTrue(a.writeMsr(LocalApic.MSR_TSC_DEADLINE, tsc + 2000)); // 1 µs ahead
        assertEquals(tsc + 2000, (long) a.readMsr(LocalApic.MSR_TSC_DEADLINE));
        assertEquals(0, t.clock.advance(999));
        assertEquals(1, t.clock.advance(1));
        assertEquals(0L, (long) a.readMsr(LocalApic.MSR_TSC_DEADLINE), "disarmed once fired");
        assertEquals(0x42, handle());
        assertTrue(a.writeMsr(LocalApic.MSR_TSC_DEADLINE, a.tsc() - 10));
        assertEquals(1, t.clock.advance(0), "a deadline in the past fires at once");
        assertTrue(a.writeMsr(LocalApic.MSR_TSC_DEADLINE, a.tsc() + 10));
        assertTrue(a.writeMsr(LocalApic.MSR_TSC_DEADLINE, 0));
        assertEquals(0, t.clock.advance(1_000_000), "0 disarms");
        assertTrue(a.writeMsr(LocalApic.MSR_TSC_DEADLINE, -1L));
        assertEquals(0, t.clock.advance(1_000_000), "the end of time never comes");
    }

    @Test
    void modeChangeStopsTheTimer() {
        a.writeMmio(0x320, 0x40);
        a.writeMmio(0x380, 1000);
        a.writeMmio(0x320, 0x20040);
        assertEquals(0L, a.readMmio(0x380));
        assertEquals(0, t.clock.advance(1_000_000));
        a.writeMmio(0x320, 0x40042);
        a.writeMsr(LocalApic.MSR_TSC_DEADLINE, a.tsc() + 100);
        a.writeMmio(0x320, 0x40);
        assertEquals(0, t.clock.advance(1_000_000));
        assertFalse(a.pending);
    }

    @Test
    void tscConversions() {
        assertEquals(3_000_000_000L, ApicTimer.nanosToTsc(1_000_000_000L, 3_000_000_000L));
        assertEquals(1L, ApicTimer.tscToNanos(3, 3_000_000_000L));
        assertEquals(1L, ApicTimer.tscToNanos(1, 3_000_000_000L), "rounded up: the first ns the TSC has reached it");
        assertEquals(Long.MAX_VALUE, ApicTimer.tscToNanos(-1L, 1_000_000L));
        long ns = 123_456_789_012L;
        assertEquals(ns, ApicTimer.tscToNanos(ApicTimer.nanosToTsc(ns, 2_400_000_000L), 2_400_000_000L));
    }
}
