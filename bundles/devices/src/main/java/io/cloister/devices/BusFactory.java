package io.cloister.devices;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

import io.cloister.api.bus.DeviceBus;
import io.cloister.api.bus.DeviceBusFactory;
import io.cloister.api.device.DeviceContext;

/** Makes VMs' buses; one watchdog serves them all. */
@Component(configurationPid = "io.cloister.devices.bus", service = DeviceBusFactory.class)
@Designate(ocd = BusFactory.Config.class)
public class BusFactory implements DeviceBusFactory, AutoCloseable {
    @ObjectClassDefinition(name = "Cloister device bus")
    @interface Config {
        @AttributeDefinition(description = "Milliseconds of CPU a device may spin, or of waiting it may do, in one access before it is marked hung (time the host merely delays an access does not count)")
        long hangMillis() default 250;
    }

    private Watchdog watchdog;

    /** For Declarative Services, which calls {@link #activate} next. */
    public BusFactory() {
    }

    /** A factory made without a framework (engine tests, benchmarks); {@link #close} it after use. */
    public BusFactory(long hangMillis) {
        watchdog = new Watchdog(hangMillis);
    }

    @Activate
    void activate(Config config) {
        watchdog = new Watchdog(config.hangMillis());
    }

    /** Stops the watchdog. */
    @Deactivate
    public void close() {
        watchdog.close();
    }

    @Override
    public DeviceBus create(DeviceContext context, io.cloister.api.irq.LocalApics apics) {
        return new Bus(context, watchdog, apics);
    }
}
