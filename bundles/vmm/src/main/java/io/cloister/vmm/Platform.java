package io.cloister.vmm;

import java.io.OutputStream;
import java.util.List;

import io.cloister.api.bus.DeviceBusFactory;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;

/**
 * The services a VM needs from the runtime, as the registry currently sees them. Plain Java types
 * only (no OSGi): {@link VmRegistry} fills it from the service registry, {@link StandaloneVm} from
 * objects it is given, so both run the same {@link Vm} and {@link Machine}.
 */
interface Platform {
    /** Where each VM gets its own instance of a device (a prototype-scoped service, or a constructor). */
    interface Instances {
        BusDevice get();

        /** Gives back an instance {@link #get} made, when its VM or the device goes. */
        void release(BusDevice instance);
    }

    /**
     * A device source, its name, its bundle (for messages), what its instances claim on the bus
     * (from which the VM's ACPI tables describe it), and the one VM it is for (the service property
     * {@code vm}: a drive belongs to one VM), or null for every VM; for a virtio-mmio transport,
     * where it is and what it is ({@link Virtio}), from which the guest is told about it.
     */
    record Device(String name, Instances instances, String bundle, List<Claim> claims, String vm, Virtio virtio) {
        public Device {
            claims = List.copyOf(claims);
        }

        /** A device that is not a virtio-mmio transport. */
        Device(String name, Instances instances, String bundle, List<Claim> claims, String vm) {
            this(name, instances, bundle, claims, vm, null);
        }

        /** A device for every VM. */
        Device(String name, Instances instances, String bundle, List<Claim> claims) {
            this(name, instances, bundle, claims, null);
        }

        /** A device for every VM whose claims are not known (it gives the ACPI tables nothing). */
        Device(String name, Instances instances, String bundle) {
            this(name, instances, bundle, List.of(), null);
        }

        boolean isFor(String vmName) {
            return vm == null || vm.equals(vmName);
        }
    }

    /**
     * A virtio-mmio transport as its service describes it (properties virtio.mmio.base, .size,
     * .irq, virtio.device, drive.root, drive.readOnly): its register window, its interrupt line,
     * its virtio device ID (2 block, 4 entropy) and, for a drive, whether it is the root device.
     */
    record Virtio(long base, long size, int irq, int type, boolean root, boolean readOnly) {
        static final int BLOCK = 2;
    }

    Backend backend(String name);

    /** The engine for a VM's setting (emulator, kvm, auto), or null if none can run here. */
    CpuEngine engine(String setting);

    /** Why {@link #engine} has none for this setting: the engine's own reason, or which engines exist. */
    String engineMissing(String setting);

    DeviceBusFactory busFactory();

    List<Device> devices();

    /** The console a VM's configuration names: stdout, file:PATH or tcp:HOST:PORT. */
    default OutputStream openConsole(String spec) {
        return Console.target(spec);
    }
}
