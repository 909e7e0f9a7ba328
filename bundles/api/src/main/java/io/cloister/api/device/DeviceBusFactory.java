package io.cloister.api.device;

import org.osgi.annotation.versioning.ProviderType;

/** Makes a VM's device bus. */
@ProviderType
public interface DeviceBusFactory {
    DeviceBus create(DeviceContext context);
}
