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
import io.cloister.api.vm.VmState;
import io.cloister.api.vm.Vmm;
import io.cloister.internal.vmconfig.RunOptions;

/**
 * The 'vmm run' entry point, called by the launcher once the feature is started: boots the
 * configured guests and waits for them, or reports the services the VMM is wired to if there is
 * no guest. Nothing here waits without a bound: a VM that is not created, or cannot boot, after a
 * settling time is an error, and --timeout ends the guests at its deadline whatever they do.
 */
@Component(service = Function.class, property = "cloister.command=run")
public class RunCommand implements Function<Map<String, String>, Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(RunCommand.class);
    private static final Set<String> OPTIONS = Set.of("timeout", "stats");
    /** Exit status of a run the user ended with Ctrl-A x (128 + SIGINT, as a shell reports an interrupted command). */
    static final int QUIT_STATUS = 130;
    /** Set by the launcher: VM names the feature configures (ConfigAdmin delivers them asynchronously). */
    static final String CONFIGURED_VMS = "cloister.configured-vms";
    /** Set by the launcher: when --timeout ends the run, in epoch milliseconds (counted from the command's start). */
    static final String DEADLINE = "cloister.deadline";
    static final long SETTLE_MS = 5_000;
    /** How long a created VM may take to boot once every bundle has started (services register as bundles start). */
    static final long BOOT_MS = 1_000;

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
    /** What feeds the first guest's console (its COM1) when that console is stdout. */
    java.io.InputStream stdin = System.in;

    @Override
    public Integer apply(Map<String, String> options) {
        for (String key : options.keySet()) {
            if (!OPTIONS.contains(key) && !key.equals(CONFIGURED_VMS) && !key.equals(DEADLINE)) {
                throw new IllegalArgumentException("unknown option --" + key + " for 'run' (see vmm run --help)");
            }
        }
        // Every option is checked before anything runs (the launcher checks them before the framework starts too).
        String timeout = options.get("timeout");
        long deadline = options.containsKey(DEADLINE) ? Long.parseLong(options.get(DEADLINE))
                : timeout == null ? Long.MAX_VALUE : System.currentTimeMillis() + RunOptions.millis("timeout", timeout);
        long statsMillis = options.containsKey("stats") ? RunOptions.millis("stats", options.get("stats")) : 0;
        List<String> names = java.util.Arrays.stream(options.getOrDefault(CONFIGURED_VMS, "").split(","))
                .filter(n -> !n.isBlank()).toList();
        awaitVms(names);
        LOG.debug("VMM started; {} VM(s) configured", vmm.vms().size());
        List<Vm> guests = new java.util.ArrayList<>();
        for (String name : names) {
            String error = vmm.configurationError(name);
            if (error != null) {
                throw new IllegalArgumentException(error);
            }
            Vm vm = (Vm) vmm.vm(name).orElseThrow(() -> new IllegalArgumentException("VM " + name + " was not created: "
                    + notCreated()));
            if (vm.hasGuest()) {
                guests.add(vm);
            }
        }
        if (!guests.isEmpty()) {
            awaitBoot(guests);
            Thread stats = statsMillis > 0 ? statsPrinter(guests, statsMillis) : null;
            java.util.concurrent.atomic.AtomicBoolean quit = new java.util.concurrent.atomic.AtomicBoolean();
            Terminal terminal = null;
            StdinFeeder feeder = null;
            try {
                Vm first = guests.get(0);
                if (first.consoleOnStdout() && stdin != null) {
                    terminal = stdin == System.in ? Terminal.rawIfTerminal() : null;
                    feeder = new StdinFeeder(first.consoleIn(), terminal != null, () -> {
                        quit.set(true);
                        guests.forEach(Vm::stop);
                    }, System.err);
                    feeder.start(stdin);
                }
                int code = runGuests(guests, deadline, timeout);
                if (quit.get()) {
                    System.err.println("vmm: quit (Ctrl-A x)");
                    return QUIT_STATUS;
                }
                return code;
            } finally {
                if (feeder != null) {
                    feeder.stop(); // stdin is no VM's any more (a VM that failed to boot never closed its console)
                }
                if (terminal != null) {
                    terminal.restore();
                }
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

    /** Why a configured VM does not exist: VmComponent needs these services. */
    private String notCreated() {
        if (memory == null) {
            return "no MemoryManager service (is cloister-memory in the feature?)";
        }
        if (restricted == null) {
            return "no RestrictedMemoryProvider service (is cloister-restrictedmem in the feature?)";
        }
        return "its configuration did not reach the VMM within " + SETTLE_MS / 1000 + " s";
    }

    /** Prints each VM's counters to stderr every period until interrupted. */
    private static Thread statsPrinter(List<Vm> guests, long millis) {
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

    /**
     * Every bundle of the run has started when the launcher calls this entry, so a guest still
     * waiting for a service (a CPU engine, the device bus) after a short settling time will wait
     * for ever: that is an error, not a hang.
     */
    private void awaitBoot(List<Vm> guests) {
        for (Vm vm : guests) {
            if (vm.imageRefused() != null) {
                // A bad image is bad input, like a bad option: one line and status 2 (the launcher's
                // checks catch most before the framework starts; the loader's own, here).
                throw new IllegalArgumentException("VM " + vm.name() + ": " + vm.imageRefused());
            }
            if (vm.state() == VmState.CREATED) {
                throw new IllegalArgumentException("VM " + vm.name() + " cannot start: " + vm.status());
            }
            long deadline = System.nanoTime() + BOOT_MS * 1_000_000;
            while (waitsToBoot(vm) && System.nanoTime() < deadline) {
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            if (waitsToBoot(vm)) {
                throw new IllegalArgumentException("VM " + vm.name() + " cannot start: " + vm.status()
                        + (vmm.busFactory() == null ? " (no device bus service: is cloister-devices in the feature?)" : ""));
            }
        }
    }

    /** Not booted, not ended: waiting for an engine or the device bus (or paused before it booted). */
    private static boolean waitsToBoot(Vm vm) {
        return vm.machine() == null && vm.state() != VmState.STOPPED && vm.state() != VmState.FAILED;
    }

    /** Waits for the guests to end, all by one deadline; the first VM's exit status is the command's. */
    private int runGuests(List<Vm> guests, long deadline, String timeout) {
        Integer first = null;
        for (Vm vm : guests) {
            Integer code;
            try {
                code = vm.state() == VmState.FAILED ? Integer.valueOf(1)
                        : vm.awaitExit(deadline == Long.MAX_VALUE ? Long.MAX_VALUE : Math.max(0, deadline - System.currentTimeMillis()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                code = null;
            }
            if (code == null) {
                System.err.println("vmm: VM " + vm.name() + " did not finish within " + timeout + " s; stopping it");
                vm.stop();
                code = 124;
            } else if (vm.state() == VmState.FAILED) {
                System.err.println("vmm: VM " + vm.name() + " failed: " + vm.status());
            }
            if (first == null) {
                first = code;
            }
        }
        return first;
    }

    /** Waits until each configured VM exists and has left CREATED (adopted by its backend, or failed). */
    private void awaitVms(List<String> names) {
        long deadline = System.nanoTime() + SETTLE_MS * 1_000_000;
        for (String name : names) {
            while (System.nanoTime() < deadline && vmm.configurationError(name) == null
                    && vmm.vm(name).map(vm -> vm.state() == VmState.CREATED).orElse(true)) {
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
