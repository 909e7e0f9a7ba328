package io.cloister.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.Space;

class DevicesTest {
    final TestContext context = new TestContext() {
        @Override
        public io.cloister.api.device.InterruptLine interruptLine(int irq) {
            return asserted -> bus.interrupts().setLevel(irq, asserted);
        }
    };
    final ByteArrayOutputStream console = context.console;
    final Watchdog watchdog = new Watchdog(100);
    final Bus bus = new Bus(context, watchdog, null);

    /** The devices a test attached (every bus starts with the platform's interrupt controllers). */
    List<String> added() {
        return bus.devices().stream().filter(d -> !d.contains("(platform)")).toList();
    }

    @Test
    void everyBusHasThePlatformInterruptControllers() {
        assertEquals(2, bus.devices().size(), bus.devices().toString());
        assertEquals(0x00170020L, readIoApicVersion());
    }

    long readIoApicVersion() {
        bus.write(Space.MMIO, IoApic.BASE, 4, 1);
        return bus.read(Space.MMIO, IoApic.BASE + 0x10, 4);
    }

    @AfterEach
    void close() {
        bus.close();
        watchdog.close();
    }

    /** A device claiming one range that answers with a constant, or misbehaves. */
    record Fake(String name, Space space, long base, long length, Runnable behaviour) implements BusDevice {
        @Override
        public List<Claim> claims() {
            return List.of(new Claim(space, base, length));
        }

        @Override
        public long read(Space s, long address, int size) {
            behaviour.run();
            return 0x1234_5678_9abc_def0L;
        }

        @Override
        public void write(Space s, long address, int size, long value) {
            behaviour.run();
        }
    }

    @Test
    void overlappingClaimsAreRefusedNamingBothDevices() {
        bus.attach(new Fake("a", Space.PIO, 0x100, 0x10, () -> { }), "bundle.a");
        CloisterException e = assertThrows(CloisterException.class,
                () -> bus.attach(new Fake("b", Space.PIO, 0x10f, 2, () -> { }), "bundle.b"));
        assertEquals(Errno.EEXIST, e.errno());
        assertTrue(e.getMessage().contains("b (bundle.b)") && e.getMessage().contains("a (bundle.a)"), e.getMessage());
        bus.attach(new Fake("c", Space.MMIO, 0x100, 0x10, () -> { }), "bundle.c"); // other space: fine
        assertEquals(2, added().size());
    }

    @Test
    void accessesGoToTheRightDeviceOrReadAllOnes() {
        for (int i = 0; i < 100; i++) {
            long base = 0x1000 + i * 0x10;
            long value = i;
            bus.attach(new BusDevice() {
                public String name() {
                    return "d" + value;
                }

                public List<Claim> claims() {
                    return List.of(new Claim(Space.PIO, base, 8));
                }

                public long read(Space s, long a, int size) {
                    return value;
                }

                public void write(Space s, long a, int size, long v) {
                }
            }, "t");
        }
        assertEquals(42, bus.read(Space.PIO, 0x1000 + 42 * 0x10 + 3, 1));
        assertEquals(0xff, bus.read(Space.PIO, 0x1000 + 42 * 0x10 + 8, 1), "gap between claims");
        assertEquals(0xffff, bus.read(Space.PIO, 0x10, 2));
        assertEquals(-1L, bus.read(Space.MMIO, 0x1000, 8));
        assertEquals(0xff, bus.read(Space.PIO, 0x1000 + 7, 2) & 0xff, "crossing the claim's end");
        assertEquals(0xffffff, bus.read(Space.PIO, 0x1000, 3), "odd size");
    }

    @Test
    void aThrowingDeviceIsAnsweredForAndTheBusGoesOn() {
        Fake bad = new Fake("bad", Space.PIO, 0x200, 4, () -> {
            throw new IllegalStateException("boom");
        });
        bus.attach(bad, "bundle.bad");
        assertEquals(0xffffffffL, bus.read(Space.PIO, 0x200, 4));
        bus.write(Space.PIO, 0x200, 1, 7);
        assertTrue(added().get(0).contains("failures=2"), bus.devices().toString());
    }

    @Test
    void unalignedMmioIsIgnored() {
        bus.attach(new Fake("m", Space.MMIO, 0x10000, 0x100, () -> { }), "t");
        assertEquals(0x9abcdef0L, bus.read(Space.MMIO, 0x10004, 4));
        assertEquals(0xffffffffL, bus.read(Space.MMIO, 0x10002, 4));
    }

    @Test
    void detachedDevicesAreGone() {
        Fake f = new Fake("f", Space.PIO, 0x80, 1, () -> { });
        bus.attach(f, "t");
        assertEquals(0xf0, bus.read(Space.PIO, 0x80, 1));
        bus.detach(f);
        assertEquals(0xff, bus.read(Space.PIO, 0x80, 1));
        assertEquals(List.of(), added());
    }

    @Test
    void uartTransmitsToTheConsoleAndProbesLike8250() {
        bus.attach(new Uart16550(), "devices");
        assertEquals(0x60, bus.read(Space.PIO, 0x3fd, 1), "LSR: THR empty, transmitter empty");
        for (byte b : "hi\n".getBytes()) {
            bus.write(Space.PIO, 0x3f8, 1, b);
        }
        assertEquals("hi\n", console.toString());
        bus.write(Space.PIO, 0x3fb, 1, 0x80); // DLAB
        bus.write(Space.PIO, 0x3f8, 1, 0x01);
        bus.write(Space.PIO, 0x3f9, 1, 0x00);
        assertEquals(0x01, bus.read(Space.PIO, 0x3f8, 1), "divisor latch low");
        bus.write(Space.PIO, 0x3fb, 1, 0x03); // 8n1, DLAB off
        bus.write(Space.PIO, 0x3ff, 1, 0xa5);
        assertEquals(0xa5, bus.read(Space.PIO, 0x3ff, 1), "scratch");
        bus.write(Space.PIO, 0x3fc, 1, 0x1a); // loopback, RTS, OUT2
        assertEquals(0x90, bus.read(Space.PIO, 0x3fe, 1) & 0xf0, "MSR in loopback: CTS from RTS, DCD from OUT2");
        bus.write(Space.PIO, 0x3f8, 1, 'x');
        assertEquals(0x61, bus.read(Space.PIO, 0x3fd, 1), "data ready");
        assertEquals('x', bus.read(Space.PIO, 0x3f8, 1));
        assertEquals("hi\n", console.toString(), "loopback bytes do not reach the console");
        bus.write(Space.PIO, 0x3fa, 1, 0x01);
        assertEquals(0xc1, bus.read(Space.PIO, 0x3fa, 1), "IIR: FIFOs on, nothing pending");
    }

    @Test
    void debugExitEndsTheVmWithQemusStatus() {
        bus.attach(new DebugExit(), "devices");
        bus.write(Space.PIO, 0xf4, 1, 0x10);
        assertEquals(List.of("exit 33"), context.events);
        bus.write(Space.PIO, 0xf4, 4, 0);
        assertEquals(List.of("exit 33", "exit 1"), context.events);
    }
}
