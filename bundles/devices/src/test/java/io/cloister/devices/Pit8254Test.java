package io.cloister.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.device.Space;

/** The 8254's register behaviour (Intel datasheet 231164) and port B, on a clock the test moves by hand. */
class Pit8254Test {
    final TestContext context = new TestContext();
    final HandClock clock = context.clock;
    final Pit8254 pit = new Pit8254();

    Pit8254Test() {
        pit.attach(context);
    }

    void out(int port, int v) {
        pit.write(Space.PIO, port, 1, v);
    }

    int in(int port) {
        return (int) pit.read(Space.PIO, port, 1);
    }

    static long ns(long ticks) {
        return Pit8254.at(0, ticks); // rounded up: exactly that many ticks have passed
    }

    /** Linux's pit_calibrate_tsc: gate on, speaker off, channel 2 mode 0, count 0xffff, poll OUT2 in port B. */
    @Test
    void channel2InMode0CountsDownAndRaisesOut2() {
        out(0x61, (in(0x61) & ~0x02) | 0x01);
        out(0x43, 0xb0);
        out(0x42, 0xff);
        out(0x42, 0xff);
        assertEquals(0, in(0x61) & 0x20, "OUT2 low while counting");
        clock.now += ns(1000);
        out(0x43, 0x80); // latch channel 2
        int count = in(0x42) | (in(0x42) << 8);
        assertTrue(Math.abs(count - (0xffff - 1000)) <= 1, Integer.toHexString(count));
        clock.now += ns(0x10000);
        assertEquals(0x20, in(0x61) & 0x20, "terminal count: OUT2 high");
        assertEquals(0x01, in(0x61) & 0x03, "gate on, speaker off");
    }

    /** quick_pit_calibrate reads the live counter LSB then MSB without latching. */
    @Test
    void unlatchedReadsAlternateLowAndHighBytes() {
        out(0x61, 0x01);
        out(0x43, 0xb0);
        out(0x42, 0xff);
        out(0x42, 0xff);
        clock.now += ns(0x300);
        in(0x42);
        assertEquals(0xfc, in(0x42), "MSB after 0x300 ticks");
    }

    @Test
    void channel0InMode2InterruptsEveryPeriod() {
        out(0x43, 0x34); // channel 0, LSB/MSB, mode 2
        out(0x40, 1193 & 0xff);
        out(0x40, 1193 >> 8);
        long start = clock.now;
        assertTrue(Math.abs(clock.deadline() - (start + 1_000_000)) < 1_000, "first interrupt after one period: " + clock.deadline());
        clock.fire();
        assertEquals(List.of("irq0+", "irq0-"), context.events, "one edge on IRQ 0");
        assertTrue(Math.abs(clock.deadline() - (start + 2_000_000)) < 2_000, "and again one period later");
        clock.now += 10_000_000; // the host fell 10 periods behind
        clock.fire();
        assertTrue(clock.deadline() > clock.now, "missed periods are coalesced, never a storm");
    }

    @Test
    void readBackGivesStatusAndCount() {
        out(0x43, 0x36); // channel 0, LSB/MSB, mode 3
        assertEquals(0xff, in(0x43), "the control word cannot be read");
        out(0x43, 0xe2); // read-back: status of channel 0, no count
        assertEquals(0x40 | 0x30 | (3 << 1) | 0x80, in(0x40), "OUT high, null count, LSB/MSB, mode 3");
        out(0x40, 0x00);
        out(0x40, 0x10); // 0x1000
        clock.now += ns(0x100);
        out(0x43, 0xd2); // read-back: count of channel 0
        assertEquals(0x1000 - 0x200, in(0x40) | (in(0x40) << 8), "a square wave counts down by two");
        out(0x43, 0x3e); // mode 7 is mode 3
        out(0x43, 0xe2);
        assertEquals(3 << 1, in(0x40) & 0x0e);
    }

    @Test
    void theRefreshBitToggles() {
        int a = in(0x61) & 0x10;
        clock.now += 15_085;
        assertEquals(a ^ 0x10, in(0x61) & 0x10);
    }
}
