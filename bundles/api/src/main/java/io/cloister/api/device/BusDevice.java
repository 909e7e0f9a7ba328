package io.cloister.api.device;

import java.util.List;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * A device on VMs' port-IO or MMIO buses, registered as an OSGi service (whiteboard): the VMM
 * attaches it to every VM and detaches it, at a safe point, when the service goes away. One
 * service serves all VMs; it keeps per-VM state keyed by VM name. Accesses have size 1, 2, 4 or
 * 8 and never cross a claim; the bus isolates a device that throws or hangs.
 */
@ConsumerType
public interface BusDevice {
    String name();

    List<Claim> claims();

    /** Called once per VM before its first access. */
    default void attach(DeviceContext context) {
    }

    /** Called when the device leaves a VM (VM destroyed, or the device's bundle stopping). */
    default void detach(String vmName) {
    }

    long read(String vmName, Space space, long address, int size);

    void write(String vmName, Space space, long address, int size, long value);
}
