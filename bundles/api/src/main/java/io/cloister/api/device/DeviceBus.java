package io.cloister.api.device;

import java.util.List;

import org.osgi.annotation.versioning.ProviderType;

/** One VM's port-IO and MMIO buses. */
@ProviderType
public interface DeviceBus {
    /**
     * Attaches a device; EEXIST (naming both devices) if a claim overlaps another device's.
     * {@code owner} names the providing bundle in log lines.
     */
    void attach(BusDevice device, String owner);

    void detach(BusDevice device);

    /** A read; all-ones where no device answers or the device failed. */
    long read(Space space, long address, int size);

    /** A write; dropped where no device answers or the device failed. */
    void write(Space space, long address, int size, long value);

    /** Attached devices, as "name (owner) ranges". */
    List<String> devices();

    /** Detaches every device. */
    void close();
}
