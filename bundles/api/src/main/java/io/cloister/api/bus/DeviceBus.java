package io.cloister.api.bus;

import java.util.List;

import org.osgi.annotation.versioning.ProviderType;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Space;
import io.cloister.api.irq.PlatformInterrupts;

/** One VM's port-IO and MMIO buses; the devices on it are that VM's own instances. */
@ProviderType
public interface DeviceBus {
    /**
     * Attaches a device instance; EEXIST (naming both devices) if a claim overlaps another
     * device's. {@code owner} names the providing bundle in log lines. The bus calls the device's
     * {@link BusDevice#attach} with its context first.
     */
    void attach(BusDevice device, String owner);

    /** Detaches a device instance (calling its {@link BusDevice#detach}). */
    void detach(BusDevice device);

    /** A read; all-ones where no device answers or the device failed. */
    long read(Space space, long address, int size);

    /** A write; dropped where no device answers or the device failed. */
    void write(Space space, long address, int size, long value);

    /** The VM's interrupt controllers (8259 PIC pair, I/O APIC), on this bus. */
    PlatformInterrupts interrupts();

    /** Attached devices, as "name (owner) ranges". */
    List<String> devices();

    /** Detaches every device. */
    void close();
}
