package io.cloister.virtio;

import java.util.List;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.Space;

/**
 * A virtio-mmio device as a bus device service: one of eight slots of Firecracker's layout, a
 * 4 KiB window from 0xd0000000 each and an interrupt line of its own (ISA lines the platform does
 * not use already: 5, 6, 7, 9, 10, 11, 12, 13). The component of each device type configures it.
 */
abstract class MmioSlot implements BusDevice {
    static final long BASE = 0xd000_0000L;
    static final int SLOTS = 8;
    private static final int[] IRQS = {5, 6, 7, 9, 10, 11, 12, 13};
    private VirtioMmio mmio;

    static long base(int slot) {
        return BASE + slot * VirtioMmio.SIZE;
    }

    static int irq(int slot) {
        return IRQS[slot];
    }

    /** Puts {@code device} into {@code slot}; an IllegalArgumentException names a slot outside 0-7. */
    final void open(int slot, VirtioDevice device) {
        if (slot < 0 || slot >= SLOTS) {
            throw new IllegalArgumentException("virtio slot " + slot + " is outside 0.." + (SLOTS - 1));
        }
        mmio = new VirtioMmio(base(slot), irq(slot), device);
    }

    /** The kernel command-line parameter that announces the device (as Firecracker announces its devices). */
    final String commandLine() {
        return mmio.commandLine();
    }

    @Override
    public final String name() {
        return mmio.name();
    }

    @Override
    public final List<Claim> claims() {
        return mmio.claims();
    }

    @Override
    public final void attach(DeviceContext context) {
        mmio.attach(context);
    }

    @Override
    public final void detach() {
        mmio.detach();
    }

    @Override
    public final long read(Space space, long address, int size) {
        return mmio.read(space, address, size);
    }

    @Override
    public final void write(Space space, long address, int size, long value) {
        mmio.write(space, address, size, value);
    }
}
