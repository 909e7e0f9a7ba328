package io.cloister.vmm;

import java.util.List;

import org.osgi.service.component.ComponentServiceObjects;

import io.cloister.api.bus.DeviceBusFactory;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.device.BusDevice;

/** The services a VM needs from the runtime, as the registry currently sees them. */
interface Platform {
    /** A prototype-scoped device service (each VM gets its own instance) and its bundle. */
    record Device(String name, ComponentServiceObjects<BusDevice> instances, String bundle) {
    }

    Backend backend(String name);

    /** The engine for a VM's setting (emulator, kvm, auto), or null if none can run here. */
    CpuEngine engine(String setting);

    /** Why {@link #engine} has none for this setting: the engine's own reason, or which engines exist. */
    String engineMissing(String setting);

    DeviceBusFactory busFactory();

    List<Device> devices();
}
