package io.cloister.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.device.Space;

/** The MC146818A's registers as Linux's mc146818 driver uses them, on a clock the test moves by hand. */
class CmosRtcTest {
    final TestContext context = new TestContext();
    final HandClock clock = context.clock;
    final CmosRtc rtc = new CmosRtc();

    CmosRtcTest() {
        rtc.attach(context);
    }

    int cmos(int r) {
        rtc.write(Space.PIO, 0x70, 1, r);
        return (int) rtc.read(Space.PIO, 0x71, 1);
    }

    void setCmos(int r, int v) {
        rtc.write(Space.PIO, 0x70, 1, r);
        rtc.write(Space.PIO, 0x71, 1, v);
    }

    static int fromBcd(int v) {
        return (v >> 4) * 10 + (v & 15);
    }

    @Test
    void readsTheHostsTimeInBcdAnd24Hours() {
        LocalDateTime host = LocalDateTime.now(ZoneOffset.UTC);
        assertEquals(0x26, cmos(0x0a), "divider and 1024 Hz rate");
        assertEquals(0x02, cmos(0x0b), "24-hour, BCD");
        assertEquals(0x80, cmos(0x0d), "valid RAM and time");
        int year = fromBcd(cmos(0x32)) * 100 + fromBcd(cmos(0x09));
        LocalDateTime rtcTime = LocalDateTime.of(year, fromBcd(cmos(0x08)), fromBcd(cmos(0x07)), fromBcd(cmos(0x04)), fromBcd(cmos(0x02)),
                fromBcd(cmos(0x00)));
        long apart = Math.abs(rtcTime.toEpochSecond(ZoneOffset.UTC) - host.toEpochSecond(ZoneOffset.UTC));
        assertTrue(apart <= 2, "the RTC says " + rtcTime + ", the host " + host);
        assertEquals(host.getDayOfWeek().getValue() % 7 + 1, fromBcd(cmos(0x06)), "Sunday is 1");
    }

    @Test
    void theGuestSetsTheTimeAndItAdvancesWithTheVmClock() {
        setCmos(0x0b, 0x82 | CmosRtc.B_BINARY); // SET, 24 h, binary
        setCmos(0x32, 20);
        setCmos(0x09, 26);
        setCmos(0x08, 12);
        setCmos(0x07, 1);
        setCmos(0x04, 23);
        setCmos(0x02, 59);
        setCmos(0x00, 58);
        setCmos(0x0b, 0x02 | CmosRtc.B_BINARY);
        clock.now += 3_000_000_000L;
        assertEquals(1, cmos(0x00), "three seconds later: 00:00:01");
        assertEquals(0, cmos(0x04));
        assertEquals(2, cmos(0x07), "the next day");
        setCmos(0x0b, 0x00 | CmosRtc.B_BINARY); // 12-hour mode
        assertEquals(12, cmos(0x04), "midnight is 12 AM");
    }

    @Test
    void updateEndedInterruptsOnIrq8AndCIsClearedByReading() {
        setCmos(0x0b, 0x02 | CmosRtc.B_UIE);
        assertEquals(1_000_000_000L, clock.deadline(), "at the next whole second");
        clock.fire();
        assertEquals(List.of("irq8+", "irq8-"), context.events);
        assertEquals(CmosRtc.C_IRQF | CmosRtc.C_UF, cmos(0x0c));
        assertEquals(0, cmos(0x0c), "reading C cleared it");
        setCmos(0x0a, 0x2f); // 2 Hz periodic
        assertEquals(500_000_000L, rtc.periodNanos());
        assertEquals(0xff, (int) rtc.read(Space.PIO, 0x70, 1), "the index port is write-only");
        setCmos(0x40, 0x5a);
        assertEquals(0x5a, cmos(0x40), "CMOS RAM");
    }
}
