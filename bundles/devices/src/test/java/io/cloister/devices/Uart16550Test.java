package io.cloister.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.device.Space;

/**
 * The 16550A's registers as the PC16550D datasheet has them, and as Linux's 8250 driver probes and
 * drives them (drivers/tty/serial/8250/8250_port.c: autoconfig, serial8250_do_startup).
 */
class Uart16550Test {
    static final int RBR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

    final TestContext context = new TestContext();
    final List<String> events = context.events;
    final Uart16550 uart = new Uart16550();

    Uart16550Test() {
        uart.attach(context);
    }

    int in(int reg) {
        return (int) uart.read(Space.PIO, Uart16550.BASE + reg, 1);
    }

    void out(int reg, int v) {
        uart.write(Space.PIO, Uart16550.BASE + reg, 1, v);
    }

    /** Linux's set-up of an open port: 8n1, FIFOs on (trigger 8), OUT2 | RTS | DTR, receive interrupts on. */
    void openLikeLinux() {
        out(LCR, 0x83);
        out(RBR, 0x01); // 115200 baud
        out(IER, 0x00);
        out(LCR, 0x03);
        out(FCR, 0x87);
        out(MCR, 0x0b);
        out(IER, 0x05); // RDA and line status
    }

    @Test
    void linuxDetectsA16550A() {
        // autoconfig: the IER holds its low four bits and nothing else
        out(IER, 0x00);
        assertEquals(0x00, in(IER) & 0x0f);
        out(IER, 0x0f);
        assertEquals(0x0f, in(IER) & 0x0f);
        out(IER, 0x00);
        // loopback test: MCR loop | OUT2 | RTS gives DCD | CTS
        out(MCR, 0x1a);
        assertEquals(0x90, in(MSR) & 0xf0);
        out(MCR, 0x00);
        // FIFO enable shows in IIR bits 7:6 as 11: a 16550A
        out(FCR, 0x01);
        assertEquals(3, in(IIR) >> 6);
        // not an ST16650 (no EFR: offset 2 with LCR 0xbf or 0x80 reads the IIR, not 0)
        out(LCR, 0xbf);
        assertNotEquals(0, in(IIR));
        // not a TI16750 (IIR bit 5 stays clear with FCR bit 5, with or without DLAB)
        out(LCR, 0x00);
        out(FCR, 0x21);
        assertEquals(6, in(IIR) >> 5);
        out(LCR, 0x80);
        out(FCR, 0x21);
        assertEquals(6, in(IIR) >> 5);
        // not an XScale (IER bit 6, UUE, does not stick)
        out(LCR, 0x00);
        out(IER, 0x40);
        assertEquals(0, in(IER) & 0x40);
        out(SCR, 0xa5);
        assertEquals(0xa5, in(SCR), "scratch");
        assertEquals(List.of(), events, "no interrupt while OUT2 is off");
    }

    @Test
    void transmitsToTheConsoleAndRaisesThreOnEveryEmptyHoldingRegister() {
        out(MCR, 0x08);
        assertEquals(0x60, in(LSR), "THR and transmitter empty");
        out(IER, 0x02);
        assertEquals(0x02, in(IIR) & 0x0f, "enabling THRE's interrupt with the THR empty raises it");
        assertEquals(List.of("irq4+", "irq4-"), events, "reading the IIR that reports THRE clears it");
        assertEquals(0x01, in(IIR) & 0x0f);
        out(RBR, 'h');
        out(RBR, 'i');
        assertEquals("hi", context.console.toString());
        assertEquals(List.of("irq4+", "irq4-", "irq4+", "irq4-", "irq4+"), events, "each byte written empties the THR again: an edge");
        out(IER, 0x00);
        out(IER, 0x02);
        assertEquals(0x02, in(IIR) & 0x0f, "THRE comes back when its enable goes 0 to 1 (Linux's THRE test)");
    }

    @Test
    void bytesBelowTheTriggerLevelInterruptAfterFourCharacterTimes() {
        openLikeLinux();
        context.input.type("ls\r");
        assertEquals(0x61, in(LSR), "data ready");
        assertEquals(0xc1, in(IIR), "3 bytes are below the trigger level of 8: nothing yet");
        assertEquals(List.of(), events);
        long due = context.clock.deadline();
        assertEquals(4 * (10 * 1_000_000_000L / 115_200), due, "character timeout armed: 4 characters of 10 bits at 115200 baud");
        context.clock.fire();
        assertEquals(0xcc, in(IIR), "character timeout");
        assertEquals(List.of("irq4+"), events);
        assertEquals('l', in(RBR));
        assertEquals(List.of("irq4+", "irq4-"), events, "reading the RBR clears the timeout");
        assertEquals('s', in(RBR));
        assertEquals('\r', in(RBR));
        assertEquals(0x60, in(LSR));
        assertEquals(-1, context.clock.deadline(), "nothing left: no timeout");
    }

    @Test
    void bytesAtTheTriggerLevelInterruptAtOnce() {
        openLikeLinux();
        context.input.type("12345678");
        assertEquals(0xc4, in(IIR), "received data available");
        assertEquals(List.of("irq4+"), events);
        assertEquals('1', in(RBR));
        assertEquals(0xc1, in(IIR), "7 left: below the trigger again");
        assertEquals(List.of("irq4+", "irq4-"), events);
    }

    @Test
    void aFullFifoHoldsInputBackAndLosesNothing() {
        openLikeLinux();
        String typed = "0123456789abcdefghijklmnopqrstuvwxyz0123";
        context.input.type(typed);
        assertEquals(typed.length() - 16, context.input.waiting(), "16 bytes in the FIFO, the rest waits at the source");
        StringBuilder got = new StringBuilder();
        while ((in(LSR) & 0x01) != 0) {
            got.append((char) in(RBR));
        }
        assertEquals(typed, got.toString());
        assertEquals(0, in(LSR) & 0x02, "no overrun");
    }

    @Test
    void withoutFifosOneByteIsHeldAndInterruptsAtOnce() {
        out(MCR, 0x08);
        out(IER, 0x01);
        context.input.type("ab");
        assertEquals(0x04, in(IIR), "16450 mode: data available, no FIFO bits");
        assertEquals(1, context.input.waiting());
        assertEquals('a', in(RBR));
        assertEquals('b', in(RBR));
        assertEquals(0, in(LSR) & 0x01);
    }

    @Test
    void loopbackOverrunsAFullFifoAndLineStatusComesFirst() {
        out(FCR, 0x07);
        out(IER, 0x05);
        out(MCR, 0x18); // loopback, OUT2
        context.input.type("x");
        for (int i = 0; i < 17; i++) {
            out(RBR, 'A' + i);
        }
        assertEquals("", context.console.toString(), "loopback bytes do not leave");
        assertEquals(1, context.input.waiting(), "console input waits while the serial input is looped back");
        assertEquals(0xc6, in(IIR), "receiver line status has priority over received data");
        assertEquals(0x63, in(LSR), "overrun, data ready");
        assertEquals(0xc4, in(IIR), "reading the LSR cleared the overrun");
        StringBuilder got = new StringBuilder();
        while ((in(LSR) & 0x01) != 0) {
            got.append((char) in(RBR));
        }
        assertEquals("ABCDEFGHIJKLMNOP", got.toString(), "the 17th byte was lost in the shift register");
        assertEquals(List.of(), events, "no interrupt reaches IRQ 4 in loopback");
        out(MCR, 0x08);
        assertEquals('x', in(RBR), "out of loopback the console input comes in");
    }

    @Test
    void modemStatusDeltasInLoopbackInterruptLast() {
        out(MCR, 0x10);
        in(MSR);
        out(IER, 0x08);
        out(MCR, 0x13); // RTS, DTR on
        assertEquals(0x00, in(IIR) & 0x0f, "modem status interrupt");
        assertEquals(0x33, in(MSR), "CTS, DSR with their deltas");
        assertEquals(0x01, in(IIR) & 0x0f, "reading the MSR cleared it");
        out(MCR, 0x14); // OUT1 (RI) on, RTS and DTR off
        assertEquals(0x43, in(MSR), "RI, DCTS, DDSR; no TERI on the leading edge");
        out(MCR, 0x10);
        assertEquals(0x04, in(MSR) & 0x0f, "TERI on RI's trailing edge");
    }

    @Test
    void out2GatesTheInterruptLine() {
        out(IER, 0x02);
        assertEquals(List.of(), events, "THRE pending, OUT2 off: IRQ 4 stays low");
        out(MCR, 0x08);
        assertEquals(List.of("irq4+"), events);
        out(MCR, 0x00);
        assertEquals(List.of("irq4+", "irq4-"), events);
    }

    @Test
    void clearingTheReceiveFifoDropsItsBytesAndTakesMoreInput() {
        openLikeLinux();
        context.input.type("0123456789abcdefXY");
        out(FCR, 0x83); // clear the receive FIFO
        assertEquals('X', in(RBR), "the FIFO refilled from what waited");
        assertTrue(context.input.waiting() == 0);
    }

    @Test
    void detachStopsTakingInput() {
        uart.detach();
        context.input.type("z");
        assertEquals(1, context.input.waiting());
    }
}
