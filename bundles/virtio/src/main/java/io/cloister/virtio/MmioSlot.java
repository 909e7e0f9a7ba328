package io.cloister.virtio;

import java.io.IOException;
import java.util.Hashtable;
import java.util.Map;

import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.PrototypeServiceFactory;
import org.osgi.framework.ServiceRegistration;

import io.cloister.api.device.BusDevice;

/**
 * A virtio-mmio device of one VM: one of eight slots of Firecracker's layout, a 4 KiB window from
 * 0xd0000000 each and an interrupt line of its own (ISA lines the platform does not use already:
 * 5, 6, 7, 10, 11, 12, 13, 14; not 9, the ACPI SCI). The component of each device type (one factory configuration per
 * device) registers a prototype-scoped BusDevice service whose properties say where the device
 * is: {@value #VM}, {@value #BASE_PROPERTY}, {@value #SIZE_PROPERTY}, {@value #IRQ_PROPERTY} and
 * {@value #TYPE_PROPERTY}. The VMM announces the device to the guest from them (kernel command
 * line and DSDT), so this table is the only place that knows a slot's window and line.
 *
 * The service is registered here rather than by DS because its properties are computed from the
 * configuration (DS only publishes the configuration's own properties).
 */
abstract class MmioSlot {
    static final long BASE = 0xd000_0000L;
    static final int SLOTS = 8;
    // Not 9: that is the ACPI SCI (FADT SCI_INT, level/high in the MADT), which an edge-triggered device cannot share.
    private static final int[] IRQS = {5, 6, 7, 10, 11, 12, 13, 14};
    /** Service property: the VM that gets the device (the VMM attaches it to no other). */
    static final String VM = "vm";
    /** Service property (Long): the first address of the device's register window. */
    static final String BASE_PROPERTY = "virtio.mmio.base";
    /** Service property (Long): the size of the window. */
    static final String SIZE_PROPERTY = "virtio.mmio.size";
    /** Service property (Integer): the interrupt line (ISA IRQ, the same I/O APIC pin). */
    static final String IRQ_PROPERTY = "virtio.mmio.irq";
    /** Service property (Integer): the virtio device ID (2 block, 4 entropy). */
    static final String TYPE_PROPERTY = "virtio.device";

    private ServiceRegistration<BusDevice> registration;

    /** A new device of this component's configuration (for each VM instance; a drive opens its image). */
    interface Opener {
        VirtioDevice open() throws IOException;
    }

    static long base(int slot) {
        return BASE + slot * VirtioMmio.SIZE;
    }

    static int irq(int slot) {
        return IRQS[slot];
    }

    static void checkSlot(int slot) {
        if (slot < 0 || slot >= SLOTS) {
            throw new IllegalArgumentException("virtio slot " + slot + " is outside 0.." + (SLOTS - 1));
        }
    }

    /**
     * Registers the device service for {@code slot}. {@code opener} is called once here, so a
     * device that cannot be made (an image that cannot be opened) fails the component's
     * activation with its reason instead of each VM's attach.
     */
    final void register(BundleContext context, Map<String, Object> component, String vm, int slot, Map<String, Object> more,
            Opener opener) throws IOException {
        checkSlot(slot);
        if (vm == null || vm.isBlank()) {
            throw new IllegalArgumentException("a virtio device needs the VM it is for (property 'vm')");
        }
        VirtioDevice probe = opener.open();
        int type = probe.deviceId();
        probe.close();
        long base = base(slot);
        int irq = irq(slot);
        Hashtable<String, Object> props = new Hashtable<>(more);
        props.put(VM, vm);
        props.put(BASE_PROPERTY, base);
        props.put(SIZE_PROPERTY, VirtioMmio.SIZE);
        props.put(IRQ_PROPERTY, irq);
        props.put(TYPE_PROPERTY, type);
        props.put(Constants.SERVICE_SCOPE, Constants.SCOPE_PROTOTYPE);
        // As DS would publish them: who made the device can wait for the service of its configuration.
        for (String key : new String[] {Constants.SERVICE_PID, "service.factoryPid"}) {
            if (component.get(key) != null) {
                props.put(key, component.get(key));
            }
        }
        registration = context.registerService(BusDevice.class, new PrototypeServiceFactory<BusDevice>() {
            @Override
            public BusDevice getService(Bundle bundle, ServiceRegistration<BusDevice> reg) {
                try {
                    return new VirtioMmio(base, irq, opener.open());
                } catch (IOException e) {
                    // The framework logs a factory's exception and gives the caller null; the VMM says so.
                    throw new IllegalStateException("virtio device at 0x" + Long.toHexString(base) + ": " + e.getMessage(), e);
                }
            }

            @Override
            public void ungetService(Bundle bundle, ServiceRegistration<BusDevice> reg, BusDevice service) {
                service.detach(); // closes the image of an instance that was never attached too (the VMM's probe)
            }
        }, props);
    }

    final void unregister() {
        if (registration != null) {
            try {
                registration.unregister();
            } catch (IllegalStateException alreadyGone) {
                // the bundle is stopping and the framework unregistered it first
            }
            registration = null;
        }
    }
}
