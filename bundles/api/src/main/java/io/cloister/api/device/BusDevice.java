package io.cloister.api.device;

import java.util.List;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * A device on a VM's port-IO or MMIO bus (whiteboard service). The VMM attaches it to every VM
 * whose bus has room for its claims.
 */
@ConsumerType
public interface BusDevice {
    String name();

    List<Claim> claims();

    /** Called once per VM before the first access. */
    default void attach(String vmName, DmaView dma) {
    }

    default void detach(String vmName) {
    }

    long read(String vmName, Space space, long address, int size);

    void write(String vmName, Space space, long address, int size, long value);
}
