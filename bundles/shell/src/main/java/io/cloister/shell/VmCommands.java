package io.cloister.shell;

import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.Vmm;

/** Gogo commands in scope {@code vmm}: see 'help vmm' in the shell. */
@Component(service = VmCommands.class, property = {"osgi.command.scope=vmm", "osgi.command.function=vms",
        "osgi.command.function=info"})
public class VmCommands {
    @Reference
    Vmm vmm;

    /** Lists the VMs of this runtime, one line each. */
    public String vms() {
        List<VirtualMachine> all = vmm.vms();
        if (all.isEmpty()) {
            return "no VMs";
        }
        StringBuilder sb = new StringBuilder(String.format("%-16s %-9s %-8s %-9s %s%n", "NAME", "STATE", "BACKEND", "ENGINE", "STATUS"));
        for (VirtualMachine vm : all) {
            sb.append(String.format("%-16s %-9s %-8s %-9s %s%n", vm.name(), vm.state(), vm.backend(), vm.engine(), vm.status()));
        }
        return sb.toString().stripTrailing();
    }

    /** Shows one VM: state, backend, engine, memslots. */
    public String info(String name) {
        VirtualMachine vm = vmm.vm(name).orElseThrow(() -> new IllegalArgumentException("no VM named " + name));
        StringBuilder sb = new StringBuilder();
        sb.append("name     ").append(vm.name()).append('\n');
        sb.append("state    ").append(vm.state()).append(" (").append(vm.status()).append(")\n");
        sb.append("backend  ").append(vm.backend()).append('\n');
        sb.append("engine   ").append(vm.engine()).append('\n');
        vm.memory().table().slots().forEach(s -> sb.append(String.format("slot %-3d %-11s 0x%012x-0x%012x%s%n", s.id(),
                s.kind(), s.gpa(), s.end(), s.readOnly() ? " ro" : "")));
        return sb.toString().stripTrailing();
    }
}
