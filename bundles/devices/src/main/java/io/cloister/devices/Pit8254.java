package io.cloister.devices;

import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ServiceScope;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.InterruptLine;
import io.cloister.api.device.Space;
import io.cloister.api.device.VmClock;

/**
 * The 8254 programmable interval timer (Intel datasheet 231164) at ports 0x40-0x43, 1.193182 MHz
 * on the VM's clock, and system control port B (0x61): channel 2's gate (bit 0), speaker enable
 * (bit 1), refresh toggle (bit 4) and channel 2's output (bit 5) — what Linux uses to calibrate the
 * TSC. Channel 0's output drives IRQ 0 (an edge per rising edge of OUT0). Modes 0-5, binary
 * counting (BCD is accepted and counted as binary), counter latch and read-back commands, LSB/MSB
 * access. Counts are computed from the clock when read, not ticked; channel 0's interrupts come
 * from a timer on the VM's clock, missed periods coalesced as a late host thread would lose them.
 */
@Component(scope = ServiceScope.PROTOTYPE, property = "device=pit")
public class Pit8254 implements BusDevice {
    static final long HZ = 1_193_182;
    static final int BASE = 0x40;
    static final int PORT_B = 0x61;

    /** One counter; guarded by the device's monitor. */
    static final class Channel {
        int mode;
        /** 1: LSB, 2: MSB, 3: LSB then MSB. */
        int access = 3;
        /** The count loaded (1..0x10000) and the VM time it was loaded or restarted at. */
        int count = 0x10000;
        long loaded;
        boolean gate = true;
        boolean nullCount = true;
        boolean writeHigh;
        int writeLow;
        boolean readHigh;
        /** A latched count (-1: none) and whether its high byte is next; a latched status (-1: none). */
        int latched = -1;
        boolean latchedHigh;
        int status = -1;
    }

    final Channel[] channels = {new Channel(), new Channel(), new Channel()};
    private boolean speaker;
    private VmClock clock;
    private InterruptLine irq0;
    /** Whether the HPET has IRQ 0 (legacy replacement): then OUT0 reaches no interrupt line. */
    private LegacyRoute route;
    private VmClock.Timer tick;

    @Override
    public String name() {
        return "i8254";
    }

    @Override
    public List<Claim> claims() {
        return List.of(new Claim(Space.PIO, BASE, 4), new Claim(Space.PIO, PORT_B, 1));
    }

    @Override
    public synchronized void attach(DeviceContext context) {
        clock = context.clock();
        irq0 = context.interruptLine(0);
        route = LegacyRoute.of(context);
        tick = clock.timer(this::expired);
        channels[2].gate = false; // port B bit 0 starts clear
    }

    @Override
    public synchronized void detach() {
        if (tick != null) {
            tick.cancel();
        }
    }

    long ticks(Channel c) {
        return Math.max(0, (clock.nanos() - c.loaded)) * HZ / 1_000_000_000L;
    }

    /** The counting element now. */
    int counter(Channel c) {
        long d = ticks(c);
        return switch (c.mode) {
            case 2 -> (int) (c.count - d % c.count);
            case 3 -> (int) (c.count - (2 * d) % c.count);
            default -> (int) ((c.count - d) & 0xffff); // 0, 1, 4, 5: wraps after terminal count
        };
    }

    /** OUT now. A counter in mode 0 or 4 whose gate is low is held (as on the part, modelled by not counting). */
    boolean out(Channel c) {
        long d = ticks(c);
        return switch (c.mode) {
            case 0 -> d >= c.count;
            case 1 -> d >= c.count;
            case 2 -> d % c.count != c.count - 1;
            case 3 -> d % c.count < (c.count + 1) / 2;
            default -> d != c.count; // 4, 5: one clock low at terminal count
        };
    }

    @Override
    public synchronized long read(Space space, long address, int size) {
        if (address == PORT_B) {
            Channel c2 = channels[2];
            boolean refresh = (clock.nanos() / 15_085) % 2 == 1; // toggles every 15.085 us
            return (c2.gate ? 1 : 0) | (speaker ? 2 : 0) | (refresh ? 0x10 : 0) | (out(c2) && c2.gate ? 0x20 : 0);
        }
        int n = (int) (address - BASE);
        if (n == 3) {
            return 0xff; // the control word cannot be read
        }
        Channel c = channels[n];
        if (c.status >= 0) {
            int s = c.status;
            c.status = -1;
            return s;
        }
        int value;
        boolean high;
        if (c.latched >= 0) {
            value = c.latched;
            high = c.access == 2 || (c.access == 3 && c.latchedHigh);
            if (c.access == 3 && !c.latchedHigh) {
                c.latchedHigh = true;
            } else {
                c.latched = -1;
                c.latchedHigh = false;
            }
        } else {
            value = counter(c);
            high = c.access == 2 || (c.access == 3 && c.readHigh);
            if (c.access == 3) {
                c.readHigh = !c.readHigh;
            }
        }
        return high ? (value >>> 8) & 0xff : value & 0xff;
    }

    @Override
    public synchronized void write(Space space, long address, int size, long value) {
        int v = (int) value & 0xff;
        if (address == PORT_B) {
            setGate2((v & 1) != 0);
            speaker = (v & 2) != 0;
            return;
        }
        int n = (int) (address - BASE);
        if (n == 3) {
            control(v);
            return;
        }
        Channel c = channels[n];
        switch (c.access) {
            case 1 -> load(n, v);
            case 2 -> load(n, v << 8);
            default -> {
                if (c.writeHigh) {
                    c.writeHigh = false;
                    load(n, c.writeLow | (v << 8));
                } else {
                    c.writeLow = v;
                    c.writeHigh = true;
                }
            }
        }
    }

    private void control(int v) {
        int sc = v >>> 6;
        if (sc == 3) { // read-back: bit 5 clear latches counts, bit 4 clear latches status, bits 1-3 select
            for (int n = 0; n < 3; n++) {
                if ((v & (2 << n)) != 0) {
                    Channel c = channels[n];
                    if ((v & 0x20) == 0 && c.latched < 0) {
                        c.latched = counter(c);
                    }
                    if ((v & 0x10) == 0 && c.status < 0) {
                        c.status = (out(c) ? 0x80 : 0) | (c.nullCount ? 0x40 : 0) | (c.access << 4) | (c.mode << 1);
                    }
                }
            }
            return;
        }
        Channel c = channels[sc];
        int access = (v >>> 4) & 3;
        if (access == 0) { // counter latch command
            if (c.latched < 0) {
                c.latched = counter(c);
            }
            return;
        }
        c.access = access;
        int mode = (v >>> 1) & 7;
        c.mode = mode > 5 ? mode - 4 : mode; // 6 and 7 are modes 2 and 3
        c.writeHigh = false;
        c.readHigh = false;
        c.nullCount = true;
        if (sc == 0) {
            tick.cancel(); // a new mode waits for its count
        }
    }

    private void load(int n, int count) {
        Channel c = channels[n];
        c.count = count == 0 ? 0x10000 : count;
        c.loaded = clock.nanos();
        c.nullCount = false;
        if (n == 0) {
            schedule(c, c.loaded);
        }
    }

    /** Port B bit 0: a rising gate restarts channel 2 in every mode but 0 and 4 (as QEMU models the part). */
    private void setGate2(boolean gate) {
        Channel c = channels[2];
        if (gate && !c.gate && c.mode != 0 && c.mode != 4) {
            c.loaded = clock.nanos();
        }
        c.gate = gate;
    }

    /** Nanoseconds of VM time for {@code t} ticks after {@code from}. */
    static long at(long from, long t) {
        return from + (t * 1_000_000_000L + HZ - 1) / HZ;
    }

    /** Arms channel 0's next rising edge of OUT after {@code after}, or nothing (modes 1 and 5 need a gate edge channel 0 never gets). */
    private void schedule(Channel c, long after) {
        long d = Math.max(0, after - c.loaded) * HZ / 1_000_000_000L;
        long next = switch (c.mode) {
            case 0, 4 -> d < c.count ? c.count : -1; // once, at terminal count
            case 2 -> (d / c.count + 1) * c.count; // OUT rises one clock after it fell at count 1
            case 3 -> (d / c.count + 1) * c.count; // the square wave rises at each period's start
            default -> -1;
        };
        if (next < 0) {
            tick.cancel();
        } else {
            tick.arm(at(c.loaded, next));
        }
    }

    private synchronized void expired() {
        Channel c = channels[0];
        if (!route.hpetOwnsLegacyIrqs()) {
            irq0.pulse();
        }
        schedule(c, clock.nanos());
    }
}
