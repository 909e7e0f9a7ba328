package io.cloister.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.DmaView;
import io.cloister.api.device.InterruptLine;
import io.cloister.api.device.VmClock;
import io.cloister.api.device.Space;
import io.cloister.api.irq.ApicMessage;
import io.cloister.api.irq.LocalApics;

/**
 * Device registers are the guest's to poke: any sequence of reads and writes of any size at any
 * address, through a VM's bus with the core devices attached (16550 UART, HPET, isa-debug-exit,
 * and the platform's 8259 pair and I/O APIC), mixed with interrupt lines changing and the CPU
 * side acknowledging, must return (no exception out of the bus, nothing left hanging) and must not
 * make a core device fail or hang: the bus would answer for it, so the test reads the bus's own
 * record of failures. Seeds: DeviceBusFuzzTestInputs/access/.
 */
class DeviceBusFuzzTest {
    /** Addresses near each device's registers, so most accesses reach one. */
    static final long[][] NEAR = {{Space.PIO.ordinal(), Uart16550.BASE}, {Space.MMIO.ordinal(), Hpet.BASE},
        {Space.PIO.ordinal(), DebugExit.PORT}, {Space.PIO.ordinal(), 0x20}, {Space.PIO.ordinal(), 0xa0}, {Space.PIO.ordinal(), 0x4d0},
        {Space.MMIO.ordinal(), IoApic.BASE}, {Space.PIO.ordinal(), Pit8254.BASE}, {Space.PIO.ordinal(), 0x70}, {Space.PIO.ordinal(), 0x60}};

    // A hang limit far above any real access, so that a slow machine cannot fake a finding.
    final Watchdog watchdog = new Watchdog(5_000);

    @AfterEach
    void close() {
        watchdog.close();
    }

    @FuzzTest(maxDuration = "15s")
    @Timeout(10)
    void access(FuzzedDataProvider data) {
        HandClock clock = new HandClock();
        long[] consoleBytes = {0};
        int[] exits = {0};
        Bus[] self = {null};
        DeviceContext context = new DeviceContext() {
            @Override
            public String vmName() {
                return "fuzz";
            }

            @Override
            public DmaView dma() {
                return new DmaView() {
                    @Override
                    public void read(long gpa, MemorySegment dst) {
                        throw new CloisterException(Errno.EFAULT, "no guest memory behind this bus");
                    }

                    @Override
                    public void write(long gpa, MemorySegment src) {
                        throw new CloisterException(Errno.EFAULT, "no guest memory behind this bus");
                    }
                };
            }

            @Override
            public void exit(int status) {
                exits[0]++;
            }

            @Override
            public OutputStream console() {
                return new OutputStream() {
                    @Override
                    public void write(int b) {
                        consoleBytes[0]++;
                    }
                };
            }

            @Override
            public InterruptLine interruptLine(int irq) {
                return asserted -> self[0].interrupts().setLevel(irq, asserted);
            }

            @Override
            public void reset() {
                exits[0]++;
            }

            @Override
            public VmClock clock() {
                return clock; // a clock that stands still: timers are armed, none fires
            }
        };
        LocalApics apics = new LocalApics() {
            @Override
            public void deliver(ApicMessage message) {
                assertTrue(message.vector() >= 0 && message.vector() < 256, "vector " + message.vector());
            }

            @Override
            public void setExtInt(boolean asserted) {
            }
        };
        Bus bus = new Bus(context, watchdog, apics);
        self[0] = bus;
        try {
            bus.attach(new Uart16550(), "devices");
            bus.attach(new Hpet(), "devices");
            bus.attach(new DebugExit(), "devices");
            bus.attach(new Pit8254(), "devices");
            bus.attach(new CmosRtc(), "devices");
            bus.attach(new I8042(), "devices");
            int writes = 0;
            for (int i = 0; i < 64 && data.remainingBytes() > 0; i++) {
                int op = data.consumeInt(0, 9);
                if (op == 7) { // a device's interrupt line (the platform has 24)
                    bus.interrupts().setLevel(data.consumeInt(0, 23), data.consumeBoolean());
                    continue;
                }
                if (op == 8) { // the CPU taking an ExtINT from the 8259s
                    int vector = bus.interrupts().acknowledgeExtInt();
                    assertTrue(vector >= 0 && vector < 256, "ExtINT vector " + vector);
                    continue;
                }
                if (op == 9) { // the local APIC's EOI, broadcast to the I/O APIC
                    bus.interrupts().endOfInterrupt(data.consumeInt(0, 255));
                    continue;
                }
                Space space;
                long address;
                if (data.consumeBoolean()) {
                    long[] near = data.pickValue(NEAR);
                    space = Space.values()[(int) near[0]];
                    address = near[1] + data.consumeInt(-8, 0x410);
                } else {
                    space = data.pickValue(Space.values());
                    address = data.consumeLong();
                }
                int size = data.consumeBoolean() ? data.pickValue(new int[] {1, 2, 4, 8}) : data.consumeInt();
                if (op < 4) {
                    long v = bus.read(space, address, size);
                    if (size >= 1 && size < 8) {
                        assertEquals(0, v >>> (size * 8), "a " + size + "-byte read answered 0x" + Long.toHexString(v));
                    }
                } else {
                    bus.write(space, address, size, data.consumeLong());
                    writes++;
                }
            }
            for (String d : bus.devices()) {
                assertTrue(!d.contains("failures=") && !d.contains("HUNG"), "a core device failed: " + d);
            }
            assertTrue(consoleBytes[0] <= writes && exits[0] <= writes, "more output than writes");
            assertEquals(List.of("i8259", "ioapic", "uart16550", "hpet", "isa-debug-exit", "i8254", "mc146818", "i8042"),
                    bus.devices().stream().map(d -> d.substring(0, d.indexOf(' '))).toList());
        } finally {
            bus.close();
        }
    }
}
