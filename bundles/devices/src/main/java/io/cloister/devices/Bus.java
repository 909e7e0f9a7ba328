package io.cloister.devices;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.bus.DeviceBus;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.Space;

/**
 * A VM's buses. Dispatch reads one immutable index per space without locking; attach and detach
 * build new indexes under this object's monitor.
 *
 * Isolation: a device that throws gets the access answered for it (reads all-ones, writes
 * dropped) and a log line naming its bundle; one that spins or waits in an access longer than the
 * watchdog allows (see {@link Watchdog}: time the host merely delays an access does not count) is
 * marked hung, its vCPU thread interrupted, and it is skipped from then on.
 */
final class Bus implements DeviceBus {
    private static final Logger LOG = LoggerFactory.getLogger(Bus.class);

    /** An attached device and its health. */
    static final class Attached {
        final BusDevice device;
        final String owner;
        volatile boolean hung;
        volatile long failures;

        Attached(BusDevice device, String owner) {
            this.device = device;
            this.owner = owner;
        }

        @Override
        public String toString() {
            return device.name() + " (" + owner + ")";
        }
    }

    private final DeviceContext context;
    private final Watchdog watchdog;
    private volatile RangeIndex<Attached> pio = RangeIndex.empty();
    private volatile RangeIndex<Attached> mmio = RangeIndex.empty();
    private final List<Attached> attached = new ArrayList<>();
    private final ConcurrentHashMap<String, Boolean> warned = new ConcurrentHashMap<>();

    private final Interrupts interrupts;

    /** A bus with the platform's interrupt controllers on it, delivering to {@code apics} (null: an engine without interrupts). */
    Bus(DeviceContext context, Watchdog watchdog, io.cloister.api.irq.LocalApics apics) {
        this.context = context;
        this.watchdog = watchdog;
        this.interrupts = new Interrupts(apics);
        attach(interrupts.pic(), "platform");
        attach(interrupts.ioapic(), "platform");
    }

    @Override
    public io.cloister.api.irq.PlatformInterrupts interrupts() {
        return interrupts;
    }

    @Override
    public synchronized void attach(BusDevice device, String owner) {
        for (Attached a : attached) {
            if (a.device == device) {
                return;
            }
        }
        Attached a = new Attached(device, owner);
        RangeIndex<Attached> p = pio;
        RangeIndex<Attached> m = mmio;
        List<Claim> claims = List.copyOf(device.claims());
        for (Claim c : claims) {
            RangeIndex<Attached> idx = c.space() == Space.PIO ? p : m;
            Attached clash = idx.overlapping(c.base(), c.end());
            if (clash != null) {
                throw new CloisterException(Errno.EEXIST, String.format("device %s claims %s [0x%x, 0x%x), which %s already claims",
                        a, c.space(), c.base(), c.end(), clash));
            }
            if (c.space() == Space.PIO) {
                p = p.with(c.base(), c.end(), a);
            } else {
                m = m.with(c.base(), c.end(), a);
            }
        }
        device.attach(context); // before the device is visible: its first access finds it ready
        attached.add(a);
        pio = p;
        mmio = m;
        LOG.debug("VM {}: attached {}", context.vmName(), a);
    }

    @Override
    public synchronized void detach(BusDevice device) {
        Attached gone = null;
        for (Attached a : attached) {
            if (a.device == device) {
                gone = a;
            }
        }
        if (gone == null) {
            return;
        }
        attached.remove(gone);
        pio = pio.without(gone);
        mmio = mmio.without(gone);
        try {
            device.detach();
        } catch (RuntimeException e) {
            LOG.error("VM {}: device {} failed to detach: {}", context.vmName(), gone, e.toString());
        }
    }

    @Override
    public long read(Space space, long address, int size) {
        Attached a = dispatch(space, address, size);
        if (a == null) {
            return allOnes(size);
        }
        Watchdog.Ticket t = watchdog.enter(a, context.vmName());
        try {
            long v = a.device.read(space, address, size);
            return t.timedOut() ? allOnes(size) : v & allOnes(size);
        } catch (RuntimeException | Error e) {
            failed(a, "read", space, address, size, e);
            return allOnes(size);
        } finally {
            watchdog.leave(t);
        }
    }

    @Override
    public void write(Space space, long address, int size, long value) {
        Attached a = dispatch(space, address, size);
        if (a == null) {
            return;
        }
        Watchdog.Ticket t = watchdog.enter(a, context.vmName());
        try {
            a.device.write(space, address, size, value & allOnes(size));
        } catch (RuntimeException | Error e) {
            failed(a, "write", space, address, size, e);
        } finally {
            watchdog.leave(t);
        }
    }

    /** The device answering an access, or null (nobody there, odd size, crossing a claim, hung device). */
    private Attached dispatch(Space space, long address, int size) {
        if (size != 1 && size != 2 && size != 4 && size != 8) {
            warnOnce("size " + size, String.format("%s access of odd size %d at 0x%x ignored", space, size, address));
            return null;
        }
        RangeIndex<Attached> idx = space == Space.PIO ? pio : mmio;
        Attached a = idx.find(address);
        if (a == null || a.hung) {
            return null;
        }
        if (address + size > idx.endOf(address)) {
            warnOnce(a + " crossing", String.format("%s access [0x%x, +%d) crosses the end of %s's range: ignored", space, address, size, a));
            return null;
        }
        if (space == Space.MMIO && (address & (size - 1)) != 0) {
            warnOnce(a + " unaligned", String.format("unaligned MMIO access [0x%x, +%d) to %s ignored", address, size, a));
            return null;
        }
        return a;
    }

    private void failed(Attached a, String op, Space space, long address, int size, Throwable e) {
        a.failures++;
        LOG.error("VM {}: device {} failed on {} {} 0x{} size {}: {} (answered for it; the VM goes on)", context.vmName(), a, op,
                space, Long.toHexString(address), size, e.toString());
    }

    private void warnOnce(String key, String message) {
        if (warned.putIfAbsent(key, Boolean.TRUE) == null) {
            LOG.warn("VM {}: {}", context.vmName(), message);
        }
    }

    static long allOnes(int size) {
        return size >= 8 ? -1L : (1L << (size * 8)) - 1;
    }

    @Override
    public synchronized List<String> devices() {
        List<String> out = new ArrayList<>();
        for (Attached a : attached) {
            StringBuilder sb = new StringBuilder(a.toString());
            for (Claim c : a.device.claims()) {
                sb.append(String.format(" %s[0x%x-0x%x)", c.space(), c.base(), c.end()));
            }
            if (a.hung) {
                sb.append(" HUNG");
            }
            if (a.failures > 0) {
                sb.append(" failures=").append(a.failures);
            }
            out.add(sb.toString());
        }
        return out;
    }

    @Override
    public synchronized void close() {
        for (Attached a : List.copyOf(attached)) {
            detach(a.device);
        }
    }
}
