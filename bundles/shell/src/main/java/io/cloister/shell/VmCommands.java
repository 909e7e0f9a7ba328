package io.cloister.shell;

import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.Vmm;

/** Gogo commands in scope {@code vmm}: see 'help vmm' in the shell. */
@Component(service = VmCommands.class, property = {"osgi.command.scope=vmm", "osgi.command.function=vms",
        "osgi.command.function=info", "osgi.command.function=swap", "osgi.command.function=pause",
        "osgi.command.function=resume"})
public class VmCommands {
    @Reference
    Vmm vmm;

    /** Lists the VMs of this runtime, one line each. */
    public String vms() {
        List<VirtualMachine> all = vmm.vms();
        if (all.isEmpty()) {
            return "no VMs";
        }
        String fmt = "%-16s %-9s %-8s %-9s %-15s %s%n";
        StringBuilder sb = new StringBuilder(String.format(fmt, "NAME", "STATE", "BACKEND", "ENGINE", "PRIVATE/PAGES", "STATUS"));
        for (VirtualMachine vm : all) {
            sb.append(String.format(fmt, vm.name(), vm.state(), vm.backend(), vm.engine(),
                    vm.privatePages() + "/" + vm.totalPages(), vm.status()));
        }
        return sb.toString().stripTrailing();
    }

    /** Shows one VM: state, backend, engine, memslots. */
    public String info(String name) {
        VirtualMachine vm = find(name);
        StringBuilder sb = new StringBuilder();
        sb.append("name     ").append(vm.name()).append('\n');
        sb.append("state    ").append(vm.state()).append(" (").append(vm.status()).append(")\n");
        sb.append("backend  ").append(vm.backend()).append('\n');
        sb.append("engine   ").append(vm.engine()).append('\n');
        sb.append("pages    ").append(vm.privatePages()).append(" private, ").append(vm.totalPages() - vm.privatePages())
                .append(" shared\n");
        if (vm.memory() == null) {
            return sb.toString().stripTrailing();
        }
        vm.memory().table().slots().forEach(s -> sb.append(String.format("slot %-3d %-11s 0x%012x-0x%012x%s%n", s.id(),
                s.kind(), s.gpa(), s.end(), s.readOnly() ? " ro" : "")));
        return sb.toString().stripTrailing();
    }

    /** Moves a VM to another backend at a safe point (refused if that backend cannot take its memory state). */
    public String swap(String name, String backend) {
        VirtualMachine vm = find(name);
        vm.switchBackend(backend);
        return vm.name() + ": " + vm.status();
    }

    public String pause(String name) {
        VirtualMachine vm = find(name);
        vm.pause();
        return vm.name() + ": " + vm.status();
    }

    public String resume(String name) {
        VirtualMachine vm = find(name);
        vm.resume();
        return vm.name() + ": " + vm.status();
    }

    private VirtualMachine find(String name) {
        return vmm.vm(name).orElseThrow(() -> new IllegalArgumentException("no VM named " + name));
    }
}
