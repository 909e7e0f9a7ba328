package io.cloister.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.device.Space;

/**
 * The HPET's legacy replacement route (LEG_RT_CNF with ENABLE_CNF, IA-PC HPET specification 1.0a):
 * while it is on, the 8254 and the RTC of the same VM interrupt no more — the PIT counts on — and
 * they have IRQ 0 and IRQ 8 back once it is off.
 */
class LegacyReplacementTest {
    final TestContext context = new TestContext();
    final List<String> events = context.events;
    final HandClock clock = context.clock;
    final Pit8254 pit = new Pit8254();
    final Hpet hpet = new Hpet();
    final CmosRtc rtc = new CmosRtc();

    LegacyReplacementTest() {
        pit.attach(context);
        hpet.attach(context);
        rtc.attach(context);
    }

    void hpetConfig(int v) {
        hpet.write(Space.MMIO, Hpet.BASE + 0x10, 4, v);
    }

    void rtcWrite(int reg, int v) {
        rtc.write(Space.PIO, 0x70, 1, reg);
        rtc.write(Space.PIO, 0x71, 1, v);
    }

    int rtcRead(int reg) {
        rtc.write(Space.PIO, 0x70, 1, reg);
        return (int) rtc.read(Space.PIO, 0x71, 1);
    }

    /** Fires the next {@code n} timer expiries; returns the lines that got edges. */
    List<String> fire(int n) {
        events.clear();
        for (int i = 0; i < n; i++) {
            clock.fire();
        }
        return events.stream().filter(e -> e.endsWith("+")).distinct().sorted().toList();
    }

    @Test
    void legacyReplacementTakesIrq0AndIrq8FromThePitAndTheRtc() {
        pit.write(Space.PIO, 0x43, 1, 0x34); // channel 0, mode 2, 1 ms
        pit.write(Space.PIO, 0x40, 1, 1193 & 0xff);
        pit.write(Space.PIO, 0x40, 1, 1193 >> 8);
        rtcWrite(0x0b, 0x40 | 0x02); // periodic interrupt on, 24-hour mode
        assertEquals(List.of("irq0+", "irq8+"), fire(6), "both interrupt on their lines");
        rtcRead(0x0c); // acknowledges the RTC

        hpetConfig(0x2); // legacy replacement without ENABLE_CNF: not in force yet
        assertEquals(List.of("irq0+"), fire(4).stream().filter(e -> e.equals("irq0+")).toList());
        rtcRead(0x0c);

        hpetConfig(0x3); // enabled, legacy replacement: the HPET's timers 0 and 1 own IRQ 0 and IRQ 8
        assertEquals(List.of(), fire(8), "neither the PIT nor the RTC interrupts");
        assertTrue(clock.deadline() > 0, "the PIT counts on");
        assertEquals(0x40, rtcRead(0x0c) & 0x40, "the RTC's periodic flag is set, but reached no line");

        hpetConfig(0x1); // legacy replacement off
        assertEquals(List.of("irq0+", "irq8+"), fire(6), "the lines are theirs again");
    }

    @Test
    void anHpetThatGoesGivesTheLinesBack() {
        hpetConfig(0x3);
        pit.write(Space.PIO, 0x43, 1, 0x34);
        pit.write(Space.PIO, 0x40, 1, 0x00);
        pit.write(Space.PIO, 0x40, 1, 0x10);
        assertEquals(List.of(), fire(2));
        hpet.detach();
        assertEquals(List.of("irq0+"), fire(2));
    }
}
