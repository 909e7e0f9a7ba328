package io.cloister.shell;

import java.nio.file.Path;
import java.util.List;

import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.Vmm;

/** Gogo commands in scope {@code vmm}: see 'help vmm' in the shell. */
@Component(service = VmCommands.class, property = {"osgi.command.scope=vmm", "osgi.command.function=vms",
        "osgi.command.function=info", "osgi.command.function=swap", "osgi.command.function=pause",
        "osgi.command.function=resume", "osgi.command.function=stop", "osgi.command.function=stats",
        "osgi.command.function=devices", "osgi.command.function=registers", "osgi.command.function=events", "osgi.command.function=install", "osgi.command.function=uninstall"})
public class VmCommands {
    @Reference
    Vmm vmm;

    /** Framework property set by the launcher: the locations of the feature's bundles, one a line. */
    static final String FEATURE_BUNDLES = "cloister.feature.bundles";

    private BundleContext context;
    /** Ids of the bundles vmm:install added. */
    private final java.util.Set<Long> installedHere = java.util.concurrent.ConcurrentHashMap.newKeySet();

    @Activate
    void activate(BundleContext context) {
        this.context = context;
    }

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
        sb.append("vcpus    ").append(vm.startedVcpus()).append(" of ").append(vm.vcpus()).append(" started\n");
        sb.append("pages    ").append(vm.privatePages()).append(" private, ").append(vm.totalPages() - vm.privatePages())
                .append(" shared\n");
        vm.memoryMap().forEach(r -> sb.append(String.format("slot %-3d %-11s 0x%012x-0x%012x%s  %s%n", r.slot(),
                r.kind(), r.gpa(), r.end(), r.readOnly() ? " ro" : "", r.backing())));
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

    public String stop(String name) {
        VirtualMachine vm = find(name);
        vm.stop();
        return vm.name() + ": " + vm.status();
    }

    /** Counters of every VM: instructions, exits, private pages; run it again to see progress. */
    public String stats() {
        StringBuilder sb = new StringBuilder(String.format("%-16s %-9s %16s %12s %15s%n", "NAME", "STATE", "INSTRUCTIONS", "EXITS",
                "PRIVATE/PAGES"));
        for (VirtualMachine vm : vmm.vms()) {
            long n = vm.instructions(); // -1: the engine cannot count (KVM)
            sb.append(String.format("%-16s %-9s %16s %,12d %15s%n", vm.name(), vm.state(), n < 0 ? "n/a" : String.format("%,d", n),
                    vm.exits(), vm.privatePages() + "/" + vm.totalPages()));
        }
        return sb.toString().stripTrailing();
    }

    /** What happened to a VM: state changes, backend swaps, devices, with times. */
    public String events(String name) {
        return String.join("\n", find(name).events());
    }

    /** The vCPU's registers, read at a safe point. */
    public String registers(String name) {
        java.util.Map<String, Long> regs = find(name).registers();
        if (regs.isEmpty()) {
            return "no registers (the guest has not booted)";
        }
        StringBuilder sb = new StringBuilder();
        int col = 0;
        for (var e : regs.entrySet()) {
            sb.append(String.format("%-6s %016x%s", e.getKey(), e.getValue(), ++col % 4 == 0 ? "\n" : "   "));
        }
        return sb.toString().stripTrailing();
    }

    /** The devices on a VM's bus. */
    public String devices(String name) {
        List<String> devices = find(name).devices();
        return devices.isEmpty() ? "no devices (the guest has not booted)" : String.join("\n", devices);
    }

    /**
     * Installs and starts a device bundle (path or URL); its devices join every running VM at a
     * safe point. A bundle that cannot resolve (e.g. built against another API version) is
     * uninstalled again and the reason returned.
     */
    public String install(String location) throws BundleException {
        String url = location.contains(":/") ? location : Path.of(location).toAbsolutePath().toUri().toString();
        Bundle b = context.installBundle(url);
        try {
            b.start();
        } catch (BundleException e) {
            b.uninstall();
            throw new IllegalArgumentException("bundle " + location + " cannot be started: " + e.getMessage().replaceAll("\\s+", " "));
        }
        installedHere.add(b.getBundleId());
        return "installed " + b.getSymbolicName() + " " + b.getVersion() + " (id " + b.getBundleId() + ")";
    }

    /**
     * Uninstalls a device bundle by symbolic name or id; its devices leave the VMs at a safe point.
     * Only bundles added to the VMM (--device, vmm:install) qualify: uninstalling one of the
     * feature's own bundles (SCR, a backend, the engine) would take the VMM down under its guests.
     */
    public String uninstall(String which) throws BundleException {
        for (Bundle b : context.getBundles()) {
            if (b.getSymbolicName() != null && (b.getSymbolicName().equals(which) || String.valueOf(b.getBundleId()).equals(which))) {
                if (!removable(b)) {
                    throw new IllegalArgumentException(b.getSymbolicName() + " is one of the VMM's own bundles; uninstall device "
                            + "bundles only (those added with --device or vmm:install)");
                }
                b.uninstall();
                installedHere.remove(b.getBundleId());
                return "uninstalled " + b.getSymbolicName();
            }
        }
        throw new IllegalArgumentException("no bundle " + which);
    }

    /**
     * Not the system bundle and not a bundle of the feature. The launcher names the feature's bundles
     * in a framework property; in a framework it did not start, only what vmm:install added qualifies.
     */
    private boolean removable(Bundle b) {
        if (b.getBundleId() == 0) {
            return false;
        }
        String feature = context.getProperty(FEATURE_BUNDLES);
        if (feature == null) {
            return installedHere.contains(b.getBundleId());
        }
        return !feature.lines().toList().contains(b.getLocation());
    }

    private VirtualMachine find(String name) {
        return vmm.vm(name).orElseThrow(() -> new IllegalArgumentException("no VM named " + name));
    }
}
