package io.cloister.api.bus;

import org.osgi.annotation.versioning.ProviderType;

import io.cloister.api.device.DeviceContext;
import io.cloister.api.irq.LocalApics;

/**
 * Makes a VM's device bus with its platform interrupt controllers; {@code context} is what the
 * bus hands each device it attaches, {@code apics} where its controllers deliver (null if the
 * engine takes no interrupts).
 */
@ProviderType
public interface DeviceBusFactory {
    DeviceBus create(DeviceContext context, LocalApics apics);
}
