package io.cloister.devices;

import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ServiceScope;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.Space;

/**
 * The monotonic clock: the main counter of an HPET at 0xfed00000 (where PCs and QEMU put it),
 * 10 MHz from the host's monotonic clock. Registers: capabilities (0x0, period in fs in the high
 * half, 64-bit counter), configuration (0x10, bit 0 enables counting), main counter (0xf0,
 * readable and writable). No comparators or interrupts.
 */
@Component(scope = ServiceScope.PROTOTYPE, property = "device=hpet")
public class Hpet implements BusDevice {
    static final long BASE = 0xfed00000L;
    static final long PERIOD_FS = 100_000_000L; // 100 ns: 10 MHz
    static final long CAPABILITIES = (PERIOD_FS << 32) | (0x8086L << 16) | (1L << 13) | 0x01;

    /** Counting state: the counter value at {@code since} (host nanoTime) and whether it runs. */
    static final class Counter {
        boolean enabled;
        long value;
        long since = System.nanoTime();

        long now() {
            return enabled ? value + (System.nanoTime() - since) / 100 : value;
        }
    }

    /** This instance's VM's counter (one instance per VM: the service is prototype-scoped). */
    private final Counter c = new Counter();

    @Override
    public String name() {
        return "hpet";
    }

    @Override
    public List<Claim> claims() {
        return List.of(new Claim(Space.MMIO, BASE, 0x400));
    }

    @Override
    public long read(Space space, long address, int size) {
        long off = address - BASE;
        long reg;
        synchronized (c) {
            reg = switch ((int) (off & ~7)) {
                case 0x000 -> CAPABILITIES;
                case 0x010 -> c.enabled ? 1 : 0;
                case 0x0f0 -> c.now();
                default -> 0;
            };
        }
        return reg >>> ((off & 7) * 8);
    }

    @Override
    public void write(Space space, long address, int size, long value) {
        long off = address - BASE;
        synchronized (c) {
            if ((off & ~7) == 0x010) {
                boolean enable = (value & 1) != 0;
                if (enable != c.enabled) {
                    c.value = c.now();
                    c.since = System.nanoTime();
                    c.enabled = enable;
                }
            } else if (off == 0x0f0 && size == 8) {
                c.value = value;
                c.since = System.nanoTime();
            }
        }
    }
}
