package io.cloister.vmm;

import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.backend.BackendPolicy;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.device.BusDevice;
import io.cloister.api.memory.MemoryManager;
import io.cloister.api.restricted.RestrictedMemoryProvider;
import io.cloister.api.vm.Vmm;

/**
 * The 'vmm run' entry point, called by the launcher once the feature is started. It reports the
 * services the VMM is wired to; booting a guest needs a CPU engine bundle.
 */
@Component(service = Function.class, property = "cloister.command=run")
public class RunCommand implements Function<Map<String, String>, Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(RunCommand.class);
    private static final Set<String> OPTIONS = Set.of("timeout", "stats");
    /** Set by the launcher: VM names the feature configures (ConfigAdmin delivers them asynchronously). */
    static final String CONFIGURED_VMS = "cloister.configured-vms";
    static final long SETTLE_MS = 5_000;

    @Reference
    VmRegistry vmm;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC, policyOption = ReferencePolicyOption.GREEDY)
    volatile MemoryManager memory;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC, policyOption = ReferencePolicyOption.GREEDY)
    volatile RestrictedMemoryProvider restricted;

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC, policyOption = ReferencePolicyOption.GREEDY)
    volatile List<BackendPolicy> backends;

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC, policyOption = ReferencePolicyOption.GREEDY)
    volatile List<CpuEngine> engines;

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC, policyOption = ReferencePolicyOption.GREEDY)
    volatile List<BusDevice> devices;

    PrintStream console = System.out;

    @Override
    public Integer apply(Map<String, String> options) {
        for (String key : options.keySet()) {
            if (!OPTIONS.contains(key) && !key.equals(CONFIGURED_VMS)) {
                throw new IllegalArgumentException("unknown option --" + key + " for 'run' (see vmm run --help)");
            }
        }
        awaitVms(options.getOrDefault(CONFIGURED_VMS, ""));
        LOG.debug("VMM started; {} VM(s) configured", vmm.vms().size());
        for (String name : options.getOrDefault(CONFIGURED_VMS, "").split(",")) {
            String error = vmm.configurationError(name);
            if (error != null) {
                throw new IllegalArgumentException(error);
            }
        }
        List<Vm> guests = new java.util.ArrayList<>();
        for (String name : options.getOrDefault(CONFIGURED_VMS, "").split(",")) {
            vmm.vm(name).filter(vm -> ((Vm) vm).hasGuest()).ifPresent(vm -> guests.add((Vm) vm));
        }
        if (!guests.isEmpty()) {
            Thread stats = options.containsKey("stats") ? statsPrinter(guests, options.get("stats")) : null;
            try {
                return runGuests(guests, options.get("timeout"));
            } finally {
                if (stats != null) {
                    stats.interrupt();
                }
            }
        }
        console.println("Cloister VMM wiring:");
        console.println("  memory manager      " + describe(memory == null ? List.of() : List.of(memory)));
        console.println("  restricted memory   " + describe(restricted == null ? List.of() : List.of(restricted)));
        console.println("  backend policies    " + describe(names(backends, BackendPolicy::name)));
        console.println("  CPU engines         " + describe(names(engines, CpuEngine::name)));
        console.println("  devices             " + describe(names(devices, BusDevice::name)));
        for (var vm : vmm.vms()) {
            console.println(String.format("  VM %-15s %s, backend %s, %d/%d pages private", vm.name(), vm.state(), vm.backend(),
                    vm.privatePages(), vm.totalPages()));
        }
        if (engines == null || engines.isEmpty()) {
            console.println("No CPU engine is installed: no guest to boot. Stopping.");
        }
        return 0;
    }

    /** Prints each VM's counters to stderr every period until interrupted. */
    private static Thread statsPrinter(List<Vm> guests, String period) {
        long millis;
        try {
            millis = (long) (Double.parseDouble(period) * 1000);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad --stats '" + period + "': seconds expected");
        }
        if (millis <= 0) {
            throw new IllegalArgumentException("bad --stats '" + period + "': must be positive");
        }
        return Thread.ofPlatform().daemon().name("vmm-stats").start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    Thread.sleep(millis);
                } catch (InterruptedException e) {
                    return;
                }
                for (Vm vm : guests) {
                    long n = vm.instructions(); // an engine that cannot count (KVM) says -1
                    System.err.printf("vmm: stats: %s %s, %s instructions, %,d exits, %d/%d pages private%n", vm.name(), vm.state(),
                            n < 0 ? "n/a" : String.format("%,d", n), vm.exits(), vm.privatePages(), vm.totalPages());
                }
            }
        });
    }

    /** Waits for the guests to end; the first VM's exit status is the command's. */
    private int runGuests(List<Vm> guests, String timeout) {
        long millis;
        try {
            millis = timeout == null ? Long.MAX_VALUE : Math.multiplyExact(Long.parseLong(timeout), 1000L);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("bad --timeout '" + timeout + "': seconds expected");
        }
        Integer first = null;
        for (Vm vm : guests) {
            if (vm.state() == io.cloister.api.vm.VmState.CREATED) {
                throw new IllegalArgumentException("VM " + vm.name() + " cannot start: " + vm.status());
            }
            // Every bundle of the run has started: an engine still missing will not come.
            long deadline = System.nanoTime() + 1_000_000_000L;
            while (vm.engineMissing() != null && System.nanoTime() < deadline) {
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            if (vm.engineMissing() != null) {
                throw new IllegalArgumentException("VM " + vm.name() + " cannot start: " + vm.status());
            }
        }
        for (Vm vm : guests) {
            Integer code;
            try {
                code = vm.state() == io.cloister.api.vm.VmState.FAILED ? Integer.valueOf(1) : vm.awaitExit(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                code = null;
            }
            if (code == null) {
                System.err.println("vmm: VM " + vm.name() + " did not finish within " + timeout + " s; stopping it");
                vm.stop();
                code = 124;
            } else if (vm.state() == io.cloister.api.vm.VmState.FAILED) {
                System.err.println("vmm: VM " + vm.name() + " failed: " + vm.status());
            }
            if (first == null) {
                first = code;
            }
        }
        return first;
    }

    /** Waits until each configured VM exists and has left CREATED (adopted by its backend, or failed). */
    private void awaitVms(String names) {
        long deadline = System.nanoTime() + SETTLE_MS * 1_000_000;
        for (String name : names.split(",")) {
            if (name.isBlank()) {
                continue;
            }
            while (System.nanoTime() < deadline && vmm.configurationError(name) == null
                    && vmm.vm(name).map(vm -> vm.state() == io.cloister.api.vm.VmState.CREATED).orElse(true)) {
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    private static <T> List<String> names(List<T> services, Function<T, String> name) {
        return services == null ? List.of() : services.stream().map(name).sorted().toList();
    }

    private static String describe(List<?> items) {
        if (items.isEmpty()) {
            return "(none)";
        }
        return items.stream().map(o -> o instanceof String s ? s : o.getClass().getSimpleName()).collect(Collectors.joining(", "));
    }
}
