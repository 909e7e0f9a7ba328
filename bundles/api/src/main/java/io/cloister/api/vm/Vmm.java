package io.cloister.api.vm;

import java.util.List;
import java.util.Optional;

import org.osgi.annotation.versioning.ProviderType;

/** The registry of VMs in this runtime. */
@ProviderType
public interface Vmm {
    List<VirtualMachine> vms();

    Optional<VirtualMachine> vm(String name);
}
