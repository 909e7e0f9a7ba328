package io.cloister.virtio;

import java.io.IOException;
import java.util.Map;

import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * An entropy source (Firecracker's PUT /entropy): one factory configuration ({@value #PID}~name)
 * gives the VM it names a virtio-rng device.
 */
@Component(configurationPid = EntropyDevice.PID, configurationPolicy = ConfigurationPolicy.REQUIRE, service = {})
@Designate(ocd = EntropyDevice.Config.class, factory = true)
public class EntropyDevice extends MmioSlot {
    static final String PID = "io.cloister.virtio.rng";

    @ObjectClassDefinition(name = "Cloister virtio-rng entropy device")
    @interface Config {
        @AttributeDefinition(description = "The VM that gets the device")
        String vm();

        @AttributeDefinition(description = "virtio-mmio slot 0-7")
        int slot() default 7;
    }

    @Activate
    void activate(Config config, BundleContext context, Map<String, Object> properties) throws IOException {
        register(context, properties, config.vm(), config.slot(), Map.of(), VirtioRng::new);
    }

    @Deactivate
    void deactivate() {
        unregister();
    }
}
