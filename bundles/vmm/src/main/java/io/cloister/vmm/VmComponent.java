package io.cloister.vmm;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.Designate;

import io.cloister.api.memory.MemoryManager;
import io.cloister.api.restricted.RestrictedMemoryProvider;

/** One VM per factory configuration: created on activation, destroyed on deactivation. */
@Component(configurationPid = VmComponent.PID, configurationPolicy = ConfigurationPolicy.REQUIRE, service = {})
@Designate(ocd = VmConfig.class, factory = true)
public class VmComponent {
    static final String PID = "io.cloister.vm";

    @Reference
    VmRegistry registry;

    @Reference
    MemoryManager memoryManager;

    @Reference
    RestrictedMemoryProvider restrictedMemory;

    private Vm vm;

    @Activate
    void activate(VmConfig config) {
        Vm.Spec spec;
        try {
            spec = new Vm.Spec(config.name(), Vm.parseSize(config.memory()), config.backend(), config.engine(), config.smm(),
                    config.autostart(), config.kernel(), config.cmdline(), config.vcpus(), config.console());
        } catch (IllegalArgumentException e) {
            // A bad value is the user's mistake, not a component failure: one line, no trace.
            registry.configurationFailed(config.name(), e.getMessage());
            return;
        }
        vm = registry.create(spec, memoryManager, restrictedMemory);
    }

    @Deactivate
    void deactivate() {
        if (vm != null) {
            registry.destroy(vm);
        }
    }
}
