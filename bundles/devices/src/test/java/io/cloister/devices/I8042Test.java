package io.cloister.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.device.Space;

/** The 8042 and its keyboard as Linux's i8042 and atkbd drivers probe them, Ctrl-Alt-Del, and the reset line. */
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

    /** Reads as an interrupt handler does: one byte per IRQ 1 edge, until no byte is waiting. */
    List<Integer> drainByInterrupts() {
        List<Integer> got = new ArrayList<>();
        while ((status() & I8042.STATUS_OBF) != 0) {
            assertEquals("irq1-", events.getLast(), "each byte in the output buffer raised IRQ 1 first");
            events.clear();
            got.add(data());
        }
        assertEquals(List.of(), events, "no interrupt without a byte");
        return got;
    }

    @Test
    void linuxProbesTheController() {
        assertEquals(0x14, status() & 0x15, "system flag, keyboard not inhibited (no 'Keylock active'), output buffer empty");
        command(0xaa);
        assertEquals(0x01, status() & 0x01, "a reply waits");
        assertEquals(0x55, data(), "self-test passed");
        assertEquals(0, status() & 0x01);
        command(0x20);
        int ctr = data();
        assertEquals(0x45, ctr, "keyboard interrupt, system flag, translation");
        command(0x60);
        send(ctr & ~0x01); // keyboard interrupt off
        command(0x20);
        assertEquals(0x44, data());
        command(0xab);
        assertEquals(0x00, data(), "keyboard interface test passed");
        command(0xad);
        command(0x20);
        assertEquals(0x54, data(), "keyboard interface disabled in the command byte");
        command(0xae);
        command(0x20);
        assertEquals(0x44, data());
        assertEquals(List.of(), events, "controller replies do not interrupt");
    }

    /** There is no mouse port: Linux's loop test gets no echo and the interface test fails, so it gives the port up. */
    @Test
    void theAuxiliaryPortIsAbsent() {
        command(0xd3);
        send(0x5a); // "write auxiliary output buffer": a controller with the port echoes it
        assertEquals(0, status() & 0x01, "no echo, and the byte did not reach the keyboard");
        command(0xa9);
        assertEquals(0x01, data(), "auxiliary interface test: clock line stuck low");
        command(0xd4);
        send(0xf2); // to the mouse: nobody answers
        assertEquals(0, status() & 0x01);
        assertEquals(List.of(), events);
    }

    @Test
    void theKeyboardAnswersOneByteAtATimeWithAnInterruptEach() {
        send(0xff);
        assertEquals(List.of(0xfa, 0xaa), drainByInterrupts(), "reset: ack, basic assurance test passed");
        send(0xf2);
        assertEquals(List.of(0xfa, 0xab, 0x41), drainByInterrupts(), "identify: an MF2 keyboard, its 0x83 translated");
        command(0x60);
        send(0x05); // translation off
        send(0xf2);
        assertEquals(List.of(0xfa, 0xab, 0x83), drainByInterrupts());
        send(0xed);
        assertEquals(List.of(0xfa), drainByInterrupts(), "set LEDs: ack, then the LED byte");
        send(0x07);
        assertEquals(List.of(0xfa), drainByInterrupts());
        send(0xf3);
        send(0x20); // typematic rate
        assertEquals(List.of(0xfa, 0xfa), drainByInterrupts());
        send(0xf0);
        send(0x00); // which scancode set?
        assertEquals(List.of(0xfa, 0xfa, 0x02), drainByInterrupts());
        send(0xf4); // enable scanning
        assertEquals(List.of(0xfa), drainByInterrupts());
        send(0xee);
        assertEquals(List.of(0xee), drainByInterrupts(), "echo");
    }

    @Test
    void noKeyboardInterruptWhileTheCommandByteDisablesIt() {
        command(0x60);
        send(0x44);
        send(0xff);
        assertEquals(0x01, status() & 0x01);
        assertEquals(List.of(0xfa, 0xaa), List.of(data(), data()));
        assertEquals(List.of(), events);
    }

    /** Firecracker's SendCtrlAltDel: the three keys pressed and released, in set 1 as the translating controller passes them on. */
    @Test
    void ctrlAltDelIsTypedTranslated() {
        assertNotNull(context.ctrlAltDel, "the controller registered for Ctrl-Alt-Del when attached");
        context.ctrlAltDel.run();
        assertEquals(List.of(0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d), drainByInterrupts());
        kbc.detach();
        assertNull(context.ctrlAltDel, "and unregistered when detached");
    }

    @Test
    void ctrlAltDelInSet2WithoutTranslation() {
        command(0x60);
        send(0x05);
        context.ctrlAltDel.run();
        assertEquals(List.of(0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14), drainByInterrupts());
        send(0xf0);
        send(0x01); // scancode set 1, untranslated
        drainByInterrupts();
        context.ctrlAltDel.run();
        assertEquals(List.of(0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d), drainByInterrupts());
    }

    /** A guest that never reads its keyboard: the keys are refused whole once they no longer fit, never cut in half. */
    @Test
    void ctrlAltDelIsRefusedWhenTheBufferIsFull() {
        context.ctrlAltDel.run();
        context.ctrlAltDel.run(); // 16 bytes: full
        CloisterException e = assertThrows(CloisterException.class, context.ctrlAltDel::run);
        assertEquals(Errno.EBUSY, e.errno());
        int n = 0;
        while ((status() & 0x01) != 0) {
            data();
            n++;
        }
        assertEquals(16, n);
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
