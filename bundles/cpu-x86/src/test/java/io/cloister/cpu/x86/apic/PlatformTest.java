package io.cloister.cpu.x86.apic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import io.cloister.api.bus.DeviceBus;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.DmaView;
import io.cloister.api.device.InterruptLine;
import io.cloister.api.device.Space;
import io.cloister.api.device.VmClock;
import io.cloister.api.irq.PlatformInterrupts;
import io.cloister.devices.BusFactory;

/** The APICs behind the devices bundle's real 8259s and I/O APIC: ExtINT's INTA, level pins' EOI and remote IRR. */
class PlatformTest implements DeviceContext {
    final HandClock clock = new HandClock();
    final VmApics vm = new VmApics(2_000_000_000L);
    final BusFactory factory = new BusFactory(5_000);
    final DeviceBus bus = factory.create(this, vm);
    final PlatformInterrupts irq = bus.interrupts();
    final LocalApic a0;

    PlatformTest() {
        vm.connect(irq, clock);
        a0 = vm.create(0);
        a0.writeMmio(0xf0, 0x1ff);
    }

    @AfterEach
    void close() {
        bus.close();
        factory.close();
    }

    void ioapic(int register, int value) {
        bus.write(Space.MMIO, 0xfec00000L, 4, register);
        bus.write(Space.MMIO, 0xfec00010L, 4, value & 0xffffffffL);
    }

    @Test
    void levelPinIsRedeliveredAfterEoiWhileAsserted() {
        ioapic(0x10 + 2 * 10, 0x8000 | 0x5a); // pin 10: vector 0x5a, level, physical, unmasked
        ioapic(0x11 + 2 * 10, 0);
        irq.setLevel(10, true);
        assertEquals(0x5a, a0.takeInterrupt(true));
        assertTrue(a0.bit('t', 0x5a), "level-triggered in TMR");
        irq.setLevel(10, true);
        assertFalse(a0.pending, "remote IRR holds the pin until EOI");
        a0.writeMmio(0xb0, 0); // EOI: the I/O APIC clears remote IRR and the still-high pin sends again
        assertEquals(0x5a, a0.takeInterrupt(true));
        irq.setLevel(10, false);
        a0.writeMmio(0xb0, 0);
        assertFalse(a0.pending, "a low pin sends nothing after EOI");
    }

    @Test
    void extIntTakesThe8259sVectorThroughInta() {
        bus.write(Space.PIO, 0x20, 1, 0x11); // ICW1: edge, cascade, ICW4
        bus.write(Space.PIO, 0x21, 1, 0x20); // ICW2: vectors 0x20-0x27
        bus.write(Space.PIO, 0x21, 1, 0x04); // ICW3: slave on input 2
        bus.write(Space.PIO, 0x21, 1, 0x01); // ICW4: 8086 mode
        bus.write(Space.PIO, 0x21, 1, 0x00); // OCW1: all unmasked
        a0.writeMmio(0x350, 0x700); // LINT0: ExtINT (virtual wire)
        irq.setLevel(1, true);
        assertEquals(LocalApic.EXTINT, a0.nextInterrupt(true));
        assertEquals(0x21, a0.takeInterrupt(true));
        assertFalse(a0.pending, "the 8259 lowered its output once IRQ 1 was in service");
        bus.write(Space.PIO, 0x20, 1, 0x20); // non-specific EOI to the 8259
        irq.setLevel(1, false);
        irq.setLevel(1, true);
        assertEquals(0x21, a0.takeInterrupt(true));
    }

    @Override
    public String vmName() {
        return "apic-test";
    }

    @Override
    public DmaView dma() {
        return new DmaView() {
            @Override
            public void read(long gpa, MemorySegment dst) {
                throw new IllegalStateException("no memory in this test");
            }

            @Override
            public void write(long gpa, MemorySegment src) {
                throw new IllegalStateException("no memory in this test");
            }
        };
    }

    @Override
    public void exit(int status) {
    }

    @Override
    public void reset() {
    }

    @Override
    public OutputStream console() {
        return OutputStream.nullOutputStream();
    }

    @Override
    public InterruptLine interruptLine(int line) {
        return level -> irq.setLevel(line, level);
    }

    @Override
    public VmClock clock() {
        return clock;
    }
}
