package io.cloister.api.device;

import java.util.List;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * A device on one VM's port-IO or MMIO bus. Device bundles register it as an OSGi service of
 * <em>prototype</em> scope ({@code @Component(scope = ServiceScope.PROTOTYPE)}): the VMM gets a
 * fresh instance for each VM, attaches it to that VM's bus, and releases it when the VM ends or
 * the service goes away (at a safe point). State lives in the instance; a service of another
 * scope is refused, because one object would then serve every VM.
 *
 * Accesses have size 1, 2, 4 or 8 and never cross a claim; the bus serialises them and isolates
 * a device that throws or hangs.
 */
@ConsumerType
public interface BusDevice {
    String name();

    List<Claim> claims();

    /** Called once, before the first access: what the device may use of its VM. */
    default void attach(DeviceContext context) {
    }

    /** Called when the device leaves its VM (VM destroyed, or the device's bundle stopping). */
    default void detach() {
    }

    long read(Space space, long address, int size);

    void write(Space space, long address, int size, long value);
}
