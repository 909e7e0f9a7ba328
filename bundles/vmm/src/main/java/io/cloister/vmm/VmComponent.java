package io.cloister.vmm;

import java.util.Map;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.Designate;

import io.cloister.api.CloisterException;
import io.cloister.api.memory.MemoryManager;
import io.cloister.api.restricted.RestrictedMemoryProvider;
import io.cloister.internal.vmconfig.VmSettings;

/** One VM per factory configuration: created on activation, destroyed on deactivation. */
@Component(configurationPid = VmComponent.PID, configurationPolicy = ConfigurationPolicy.REQUIRE, service = {})
@Designate(ocd = VmConfig.class, factory = true)
public class VmComponent {
    static final String PID = VmSettings.FACTORY_PID;

    @Reference
    VmRegistry registry;

    @Reference
    MemoryManager memoryManager;

    @Reference
    RestrictedMemoryProvider restrictedMemory;

    private Vm vm;

    /**
     * The raw properties, not VmConfig: DS would convert "vcpus": "many" only when it is read, with
     * an exception and a stack trace; VmSettings says what is wrong in one line, as the launcher does.
     */
    @Activate
    void activate(Map<String, Object> properties) {
        Object name = properties.get("name");
        try {
            VmSettings s = VmSettings.of(properties);
            vm = registry.create(new Vm.Spec(s.name(), s.memory(), s.backend(), s.engine(), s.smm(), s.autostart(), s.kernel(),
                    s.cmdline(), s.vcpus(), s.console(), s.initrd(), s.icount()), memoryManager, restrictedMemory);
        } catch (IllegalArgumentException | CloisterException e) {
            // A bad value or a second VM of one name is the user's mistake, not a component failure: one line, no trace.
            registry.configurationFailed(name == null ? "" : name.toString(), e.getMessage());
        }
    }

    @Deactivate
    void deactivate() {
        if (vm != null) {
            registry.destroy(vm);
        }
    }
}
