package io.cloister.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.CloisterException;
import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Space;
import io.cloister.api.irq.ApicMessage;
import io.cloister.api.irq.DeliveryMode;
import io.cloister.api.irq.LocalApics;

/**
 * Register behaviour of the 8259A pair (Intel datasheet 231468) and the I/O APIC (82093AA
 * datasheet 290566), driven through their ports and MMIO as a guest drives them, with the local
 * APIC side recorded.
 */
class InterruptsTest {
    final List<ApicMessage> messages = new ArrayList<>();
    final List<Boolean> extInt = new ArrayList<>();
    final Interrupts irq = new Interrupts(new LocalApics() {
        @Override
        public void deliver(ApicMessage message) {
            messages.add(message);
        }

        @Override
        public void setExtInt(boolean asserted) {
            extInt.add(asserted);
        }
    });
    final BusDevice pic = irq.pic();
    final BusDevice ioapic = irq.ioapic();

    void out(int port, int value) {
        pic.write(Space.PIO, port, 1, value);
    }

    int in(int port) {
        return (int) pic.read(Space.PIO, port, 1);
    }

    @Test
    void the8259sAreMaskedAtPowerUpUntilTheGuestInitialisesThem() {
        // The BSP's LINT0 is the open virtual wire at power-up: a line raised before the guest set
        // up the 8259s must not reach it (it would arrive with vector 0-7, an exception's).
        assertEquals(0xff, in(0x21), "master IMR at power-up");
        assertEquals(0xff, in(0xa1), "slave IMR at power-up");
        irq.setLevel(4, true);
        irq.setLevel(12, true);
        assertEquals(List.of(), extInt, "nothing on the wire");
        out(0x21, 0xef); // the guest unmasks IRQ 4 (as Linux does once its 8259 set-up is done)
        assertEquals(List.of(true), extInt);
    }

    /** Linux's init_8259A: vectors 0x30 and 0x38, slave on IR2, 8086 mode; all masked but {@code mask}. */
    void initLikeLinux(int masterMask, int slaveMask) {
        out(0x20, 0x11);
        out(0x21, 0x30);
        out(0x21, 0x04);
        out(0x21, 0x01);
        out(0xa0, 0x11);
        out(0xa1, 0x38);
        out(0xa1, 0x02);
        out(0xa1, 0x01);
        out(0x21, masterMask);
        out(0xa1, slaveMask);
    }

    int isr(int port) {
        out(port, 0x0b); // OCW3: read ISR
        return in(port);
    }

    @Test
    void anEdgeOnIrq0IsAcknowledgedInServiceAndEnded() {
        initLikeLinux(0xfe, 0xff);
        assertEquals(0xfe, in(0x21), "OCW1 reads back");
        irq.setLevel(0, true);
        assertEquals(List.of(true), extInt, "LINT0 asserted");
        assertEquals(0x30, irq.acknowledgeExtInt());
        assertEquals(List.of(true, false), extInt, "in service: nothing else to deliver");
        assertEquals(0x01, isr(0x20));
        irq.setLevel(0, false);
        irq.setLevel(0, true); // a second edge while the first is in service waits
        assertEquals(List.of(true, false), extInt);
        out(0x20, 0x20); // non-specific EOI
        assertEquals(0, isr(0x20));
        assertEquals(List.of(true, false, true), extInt, "the waiting edge is delivered after EOI");
    }

    @Test
    void fullyNestedPriorityAndMasking() {
        initLikeLinux(0xfc, 0xff); // IRQ 0 and 1
        irq.setLevel(1, true);
        irq.setLevel(0, true);
        assertEquals(0x30, irq.acknowledgeExtInt(), "IRQ 0 has the highest priority");
        assertEquals(-1, irq.master.pending(true), "IRQ 1 waits while IRQ 0 is in service");
        out(0x20, 0x60); // specific EOI for IRQ 0
        assertEquals(0x31, irq.acknowledgeExtInt());
        out(0x21, 0xff);
        irq.setLevel(1, false);
        irq.setLevel(1, true);
        out(0x20, 0x20);
        assertEquals(-1, irq.master.pending(true), "masked");
    }

    @Test
    void theSlaveCascadesThroughIr2() {
        initLikeLinux(0xfb, 0xef); // master IR2, slave IR4 = IRQ 12
        irq.setLevel(12, true);
        assertEquals(List.of(true), extInt);
        assertEquals(0x3c, irq.acknowledgeExtInt());
        assertEquals(0x04, isr(0x20), "the master has the cascade input in service");
        assertEquals(0x10, isr(0xa0));
    }

    @Test
    void levelInputsFromTheElcrStayPendingWhileAsserted() {
        initLikeLinux(0xfb, 0xfb); // IRQ 10
        out(0x4d1, 0xff);
        assertEquals(0xde, in(0x4d1), "ELCR: slave IRQ 8 and 13 are edge-only");
        out(0x4d0, 0xff);
        assertEquals(0xf8, in(0x4d0), "ELCR: master IRQ 0-2 are edge-only");
        irq.setLevel(10, true);
        assertEquals(0x3a, irq.acknowledgeExtInt());
        out(0xa0, 0x20);
        out(0x20, 0x20);
        assertTrue(irq.master.pending(true) >= 0, "still asserted: requested again");
        irq.setLevel(10, false);
        assertEquals(-1, irq.slave.pending(false), "deasserted: withdrawn");
        assertEquals(0x3f, irq.acknowledgeExtInt(), "the master's cascade edge is latched: an INTA now gets the spurious IRQ 15, "
                + "as on hardware when a request drops before INTA");
    }

    @Test
    void spuriousAndPoll() {
        initLikeLinux(0xfe, 0xff);
        assertEquals(0x37, irq.acknowledgeExtInt(), "nothing pending: spurious IRQ 7");
        assertEquals(0, isr(0x20), "a spurious interrupt is not in service");
        irq.setLevel(0, true);
        out(0x20, 0x0c); // OCW3: poll
        assertEquals(0x80, in(0x20), "poll: bit 7 and input 0");
        assertEquals(0x01, isr(0x20), "a poll acknowledges");
        out(0x20, 0x0c);
        assertEquals(0, in(0x20), "nothing left");
    }

    long reg(int r) {
        ioapic.write(Space.MMIO, IoApic.BASE, 4, r);
        return ioapic.read(Space.MMIO, IoApic.BASE + 0x10, 4);
    }

    void setReg(int r, long v) {
        ioapic.write(Space.MMIO, IoApic.BASE, 4, r);
        ioapic.write(Space.MMIO, IoApic.BASE + 0x10, 4, v);
    }

    @Test
    void ioApicRegistersAfterReset() {
        assertEquals(0x00170020L, reg(1), "version 0x20, 24 entries");
        for (int pin = 0; pin < 24; pin++) {
            assertEquals(IoApic.MASKED, reg(0x10 + 2 * pin), "masked at reset");
        }
        setReg(0, 0x0f000000L);
        assertEquals(0x0f000000L, reg(0));
        setReg(0x10, 0x5000 | 0x30); // delivery status and remote IRR are read-only
        assertEquals(0x30, reg(0x10));
    }

    @Test
    void ioApicEdgePins() {
        setReg(0x10 + 2 * 4, 0x24); // pin 4: fixed, physical, edge, unmasked, vector 0x24
        setReg(0x11 + 2 * 4, 0x01000000L); // destination APIC 1
        irq.setLevel(4, true);
        assertEquals(List.of(new ApicMessage(1, false, 0x24, DeliveryMode.FIXED, false)), messages);
        irq.setLevel(4, true);
        assertEquals(1, messages.size(), "no edge, no message");
        irq.setLevel(4, false);
        irq.setLevel(4, true);
        assertEquals(2, messages.size());
        setReg(0x10 + 2 * 4, IoApic.MASKED | 0x24);
        irq.setLevel(4, false);
        irq.setLevel(4, true);
        setReg(0x10 + 2 * 4, 0x24);
        assertEquals(2, messages.size(), "an edge on a masked pin is lost");
    }

    @Test
    void ioApicLevelPinsWaitForEoi() {
        setReg(0x10 + 2 * 10, IoApic.LEVEL | 0x3a);
        irq.setLevel(10, true);
        assertEquals(List.of(new ApicMessage(0, false, 0x3a, DeliveryMode.FIXED, true)), messages);
        assertEquals(IoApic.REMOTE_IRR, reg(0x10 + 2 * 10) & IoApic.REMOTE_IRR);
        irq.setLevel(10, true);
        assertEquals(1, messages.size(), "remote IRR holds it");
        irq.endOfInterrupt(0x3a);
        assertEquals(2, messages.size(), "still asserted at EOI: delivered again");
        irq.setLevel(10, false);
        ioapic.write(Space.MMIO, IoApic.BASE + 0x40, 4, 0x3a); // the EOI register
        assertEquals(0, reg(0x10 + 2 * 10) & IoApic.REMOTE_IRR);
        assertEquals(2, messages.size());
    }

    @Test
    void irq0ReachesPin2AndLinesOutsideAreRefused() {
        setReg(0x10 + 2 * 2, 0x20);
        irq.setLevel(0, true);
        assertEquals(0x20, messages.get(0).vector());
        assertThrows(CloisterException.class, () -> irq.setLevel(24, true));
        assertThrows(CloisterException.class, () -> irq.setLevel(-1, true));
    }
}
