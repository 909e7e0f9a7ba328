package io.cloister.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.device.Space;

/** The HPET's counter and comparators by the IA-PC HPET specification 1.0a, on a hand-moved VM clock. */
class HpetTest {
    static final long CONF = 0x10, STATUS = 0x20, COUNTER = 0xf0;
    static final long T0 = 0x100, T1 = 0x120, T2 = 0x140;

    final TestContext context = new TestContext();
    final List<String> events = context.events;
    final HandClock clock = context.clock;
    final Hpet hpet = new Hpet();

    HpetTest() {
        hpet.attach(context);
    }

    long read(long reg, int size) {
        return hpet.read(Space.MMIO, Hpet.BASE + reg, size) & Bus.allOnes(size); // as the bus answers
    }

    void write(long reg, int size, long v) {
        hpet.write(Space.MMIO, Hpet.BASE + reg, size, v);
    }

    @Test
    void capabilitiesNameThreeTimersLegacyReplacementAnd10MHz() {
        assertEquals(0x8086a201L, read(0, 4), "vendor 8086, legacy capable, 64-bit counter, 3 timers, revision 1");
        assertEquals(100_000_000L, read(4, 4), "period in femtoseconds");
        assertEquals(0x30, read(T0, 4) & 0x30, "timer 0: periodic-capable, 64-bit");
        assertEquals(0x20, read(T1, 4) & 0x30, "timer 1: one-shot only");
        assertEquals(0x104, read(T0 + 4, 4), "routable to I/O APIC pins 2 and 8");
    }

    @Test
    void theCounterRunsOnTheVmClockOnlyWhileEnabled() {
        clock.now = 5_000;
        assertEquals(0, read(COUNTER, 8));
        write(CONF, 4, 1);
        clock.now += 1_000_000;
        assertEquals(10_000, read(COUNTER, 8), "1 ms at 10 MHz");
        write(CONF, 4, 0);
        clock.now += 1_000_000;
        assertEquals(10_000, read(COUNTER, 8), "halted");
        write(COUNTER, 4, 7);
        write(COUNTER + 4, 4, 1);
        assertEquals((1L << 32) | 7, read(COUNTER, 8), "written in two halves while halted");
    }

    /** What Linux's hpet_clkevt_set_state_periodic does with legacy replacement on. */
    @Test
    void timer0PeriodicInLegacyModeInterruptsOnIrq0() {
        write(CONF, 4, 3); // enable, legacy replacement
        write(T0, 4, 0x4 | 0x8 | 0x40 | 0x100); // interrupt enable, periodic, value set, 32-bit
        long now = read(COUNTER, 4);
        write(T0 + 8, 4, now + 1000); // the first match (value set)
        write(T0 + 8, 4, 1000); // the period
        assertEquals(0, read(T0, 4) & 0x40, "the write cleared Tn_VAL_SET_CNF");
        assertEquals(1000 * 100, clock.deadline(), "1000 ticks of 100 ns");
        clock.fire();
        assertEquals(List.of("irq0+", "irq0-"), events);
        assertEquals(2000 * 100, clock.deadline(), "the next period");
        assertEquals(2000, read(T0 + 8, 4), "the comparator advanced by the period");
        clock.now = 5500 * 100; // a late host thread: periods missed are one interrupt
        clock.fire();
        assertEquals(4, events.size());
        assertEquals(6000 * 100, clock.deadline());
    }

    @Test
    void aOneShotRoutedToPin8FiresOnce() {
        write(CONF, 4, 1);
        write(T2, 4, 0x4 | (8 << 9));
        assertEquals(8, (read(T2, 4) >> 9) & 0x1f);
        write(T2 + 8, 8, 500);
        clock.fire();
        assertEquals(List.of("irq8+", "irq8-"), events);
        assertEquals(-1, clock.deadline(), "64-bit one-shot: no second match");
    }

    @Test
    void aLevelInterruptIsHeldUntilItsStatusBitIsCleared() {
        write(CONF, 4, 1);
        write(T1, 4, 0x2 | 0x4 | (2 << 9)); // level, enabled, pin 2
        write(T1 + 8, 8, 10);
        clock.fire();
        assertEquals(List.of("irq2+"), events);
        assertEquals(0x2, read(STATUS, 4), "timer 1's status bit");
        write(STATUS, 4, 0x1); // another timer's bit: nothing
        assertEquals(List.of("irq2+"), events);
        write(STATUS, 4, 0x2);
        assertEquals(List.of("irq2+", "irq2-"), events);
        assertEquals(0, read(STATUS, 4));
    }

    @Test
    void aRouteOutsideTheCapabilityIsRefusedAndTimersOneAndTwoAreNotPeriodic() {
        write(T1, 4, (5 << 9) | 0x8);
        assertEquals(0, read(T1, 4) & ((0x1f << 9) | 0x8));
    }

    @Test
    void aPeriodBelowTheMinimumTickCountsAsIt() {
        write(CONF, 4, 1);
        write(T0, 4, 0x4 | 0x8 | 0x40);
        write(T0 + 8, 8, 10);
        write(T0 + 8, 8, 1); // a 100 ns period
        clock.fire();
        assertEquals((10 + Hpet.MIN_TICK) * 100, clock.deadline());
    }

    @Test
    void a32BitOneShotMatchesAgainWhenTheLowHalfWraps() {
        write(CONF, 4, 1);
        write(T1, 4, 0x4 | 0x100 | (8 << 9));
        write(T1 + 8, 4, 100);
        clock.fire();
        assertEquals(List.of("irq8+", "irq8-"), events);
        assertEquals((100 + (1L << 32)) * 100, clock.deadline());
    }
}
