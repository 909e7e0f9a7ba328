package io.cloister.api.bus;

import org.osgi.annotation.versioning.ProviderType;

import io.cloister.api.device.DeviceContext;

/** Makes a VM's device bus; {@code context} is what the bus hands each device it attaches. */
@ProviderType
public interface DeviceBusFactory {
    DeviceBus create(DeviceContext context);
}
