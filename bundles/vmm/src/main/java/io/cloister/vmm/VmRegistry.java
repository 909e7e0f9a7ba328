package io.cloister.vmm;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListMap;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.Vmm;

/** The VMs of this runtime, by name. */
@Component(service = Vmm.class)
public class VmRegistry implements Vmm {
    private static final Logger LOG = LoggerFactory.getLogger(VmRegistry.class);
    private final Map<String, VirtualMachine> vms = new ConcurrentSkipListMap<>();

    @Override
    public List<VirtualMachine> vms() {
        return List.copyOf(vms.values());
    }

    @Override
    public Optional<VirtualMachine> vm(String name) {
        return Optional.ofNullable(vms.get(name));
    }

    @Deactivate
    void deactivate() {
        for (VirtualMachine vm : vms.values()) {
            LOG.info("stopping VM {} ({})", vm.name(), vm.state());
            vm.stop();
        }
        vms.clear();
    }
}
