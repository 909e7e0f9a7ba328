package io.cloister.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.device.Space;

/** The 8042 as Linux's i8042 driver probes it, and its reset line. */
class I8042Test {
    final TestContext context = new TestContext();
    final List<String> events = context.events;
    final I8042 kbc = new I8042();

    I8042Test() {
        kbc.attach(context);
    }

    int status() {
        return (int) kbc.read(Space.PIO, 0x64, 1);
    }

    int data() {
        return (int) kbc.read(Space.PIO, 0x60, 1);
    }

    void command(int v) {
        kbc.write(Space.PIO, 0x64, 1, v);
    }

    void send(int v) {
        kbc.write(Space.PIO, 0x60, 1, v);
    }

    @Test
    void linuxProbesTheController() {
        assertEquals(0x04, status() & 0x05, "system flag, output buffer empty");
        command(0xaa);
        assertEquals(0x01, status() & 0x01, "a reply waits");
        assertEquals(0x55, data(), "self-test passed");
        command(0x20);
        int ctr = data();
        assertEquals(0x45, ctr);
        command(0x60);
        send(ctr & ~0x01); // keyboard interrupt off
        command(0x20);
        assertEquals(0x44, data());
        command(0xab);
        assertEquals(0x00, data(), "interface test passed");
        assertEquals(List.of(), events);
    }

    @Test
    void theKeyboardAnswersAndInterruptsWhenEnabled() {
        send(0xff);
        assertEquals(0xfa, data());
        assertEquals(0xaa, data());
        send(0xf2);
        assertEquals(List.of(0xfa, 0xab, 0x83), List.of(data(), data(), data()));
        assertEquals(List.of("irq1+", "irq1-", "irq1+", "irq1-", "irq1+", "irq1-", "irq1+", "irq1-", "irq1+", "irq1-"), events);
    }

    @Test
    void theResetLineResetsThePlatform() {
        command(0xfe);
        assertEquals(List.of("reset"), events);
        command(0xd1);
        send(0x00); // output port bit 0 low
        assertEquals(List.of("reset", "reset"), events);
        command(0xd1);
        send(0x01);
        assertEquals(2, events.size(), "bit 0 high: no reset");
    }
}
