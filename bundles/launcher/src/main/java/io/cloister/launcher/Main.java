package io.cloister.launcher;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

import io.cloister.internal.vmconfig.GuestImage;
import io.cloister.internal.vmconfig.RunOptions;
import io.cloister.internal.vmconfig.VmSettings;

/** {@code bin/vmm}: the command line of Cloister. */
public final class Main {
    /** Service property naming the command a VMM entry service implements. */
    public static final String COMMAND_PROPERTY = "cloister.command";
    static final String DEFAULT_FEATURE = "default";
    static final long ENTRY_TIMEOUT_MS = 15_000;
    /** Factory PID of VM configurations. */
    static final String VM_FACTORY_PID = VmSettings.FACTORY_PID;
    /**
     * Option given to the run entry: the VMs the feature configures. ConfigAdmin delivers
     * configurations asynchronously, so the VMM waits for these before it reports or boots.
     */
    public static final String CONFIGURED_VMS = "cloister.configured-vms";
    /** Option given to the run entry: the --timeout deadline, in epoch milliseconds. */
    static final String DEADLINE = "cloister.deadline";
    /** Framework property with the value of 'run --on-reset' (exit or restart), read by the VMM's VM registry. */
    static final String ON_RESET_PROPERTY = "cloister.on-reset";
    /** Exit status of a run that --timeout ended, as timeout(1) has it. */
    static final int TIMEOUT_EXIT = 124;

    static final String HELP = """
            Usage: vmm [--verbose] <command> [options]

            Commands:
              run       Start the VMM from a feature and boot its guest; the exit status is the guest's.
              shell     Start the VMM from a feature with the Gogo shell on the console ('help' lists commands).
              features  List the feature files of this distribution.
              help      Show this text (also --help, -h).

            Options:
              --feature F   Feature file: a path, or a name in the distribution's features/ (default: %s).
              --verbose     Debug logging, and stack traces with errors.
              --device JAR  (run) Also install this device bundle.
              See 'vmm run --help' for the options of run.

            Exit status: 0 success, 1 VMM or guest failure, 2 bad command line, feature, bundle or configuration.
            """.formatted(DEFAULT_FEATURE);

    static final String RUN_HELP = """
            Usage: vmm run [--feature F] [--backend B] [--engine E] [--memory SIZE] [--vcpus N] [--kernel FILE]
                           [--initrd FILE] [--cmdline S] [--console stdout|file:PATH|tcp:HOST:PORT] [--timeout SECONDS]
                           [--stats SECONDS] [--on-reset exit|restart] [--device JAR]... [--drive PATH[,ro][,root][,id=ID][,cache=C]]...
                           [--entropy] [--icount N]
              Starts the feature's bundles and boots its VM's guest; the exit status is the guest's (the value
              it wrote to the isa-debug-exit port, 0 if it halted or powered off (ACPI S5), 1 if it failed, 3 if it
              reset the platform (--on-reset exit), 124 on --timeout, 130 on Ctrl-A x).
              stdin goes to the guest's serial port (COM1) when its console is stdout: a terminal in raw mode
              (Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A h lists the keys), a pipe or file as it is.
              --backend   plain, sev, snp, tdx or pkvm       --engine   emulator, kvm or auto
              --memory    guest RAM, e.g. 64M or 1G
              --kernel    a PVH ELF (an ELF with the Xen PVH entry note) or a Linux bzImage (boot protocol 2.12+,
                          entered at its 64-bit entry); default: the demo guest
              --initrd    initial RAM disk for the kernel: PVH module 0, or the bzImage's ramdisk; placed at the top of
                          RAM (below 4 GiB); the ACPI tables (RSDP) go to the guest through start_info or boot_params
              --vcpus     vCPUs, 1 to 64 (the guest starts vCPUs 1.. with INIT/SIPI or the START_VCPU hypercall)
              --cmdline   the guest's command line           --console  where the guest's serial output goes
              --memory is at most the host's physical memory; --kernel and --initrd regular files no larger than --memory
              --timeout   end the run SECONDS after it started (exit status 124), whatever the guest does
              --stats     print instructions, exits and private pages to stderr every SECONDS
              --on-reset  what a guest's reset (i8042 0xfe, ACPI reset register) does: exit (status 3; the default)
                          or restart (boot the guest again from its images)
              --device    also install this device bundle (repeatable)
              --drive     a virtio-blk drive on a raw image file (repeatable): ro read-only; root the guest's root device
                          (root=/dev/vdX on the command line); id=ID its name (GET_ID); cache=unsafe (default, no flush
                          offered) or writeback (flush is fsync). Announced on the command line (virtio_mmio.device=) and
                          in the DSDT (LNRO0005)
              --entropy   a virtio-rng entropy device fed from the host's SecureRandom
              --icount    deterministic time (QEMU's -icount shift=N,sleep=off): each instruction the vCPU retires is
                          2^N ns of VM time (N 0..10), and a halted vCPU skips to its next timer; the timers (TSC, LAPIC,
                          PIT, HPET) then fire at the same instruction in every run. One vCPU, the emulator engine
            Firecracker's command line (see the README's "API"):
              --api-sock PATH     serve Firecracker's management API on this Unix socket; the VMM starts with no VM
                                  and boots one on PUT /actions InstanceStart (a stale socket file is replaced)
              --config-file FILE  boot the VM a Firecracker config file describes, with or without --api-sock
            """;

    private Main() {
    }

    public static void main(String[] args) {
        CompilerThreads.lower(); // the process's policy, so here and not in run(), which tests call
        int code = run(args, System.out, System.err);
        System.exit(code);
    }

    /** Runs a command line; returns the exit status. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        boolean verbose = List.of(args).contains("--verbose");
        configureLogging(verbose);
        try {
            return execute(args, out, err);
        } catch (LaunchException e) {
            err.println("vmm: error: " + e.getMessage());
            if (verbose) {
                e.printStackTrace(err);
            }
            return e.exitCode();
        } catch (RuntimeException e) {
            err.println("vmm: internal error: " + FeatureFile.oneLine(e));
            if (verbose) {
                e.printStackTrace(err);
            }
            return LaunchException.RUNTIME;
        }
    }

    private static int execute(String[] args, PrintStream out, PrintStream err) throws LaunchException {
        List<String> rest = new ArrayList<>();
        String command = null;
        Map<String, String> options = new LinkedHashMap<>();
        List<Path> devices = new ArrayList<>();
        List<String> drives = new ArrayList<>();
        boolean entropy = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--verbose" -> { }
                case "--entropy" -> entropy = true;
                case "--help", "-h" -> {
                    out.print("run".equals(command) ? RUN_HELP : HELP);
                    return 0;
                }
                default -> {
                    if (a.startsWith("-")) {
                        String name = a.startsWith("--") ? a.substring(2) : a;
                        if (!OPTIONS.contains(name)) {
                            throw new LaunchException(LaunchException.CONFIG, "unknown option " + a
                                    + ("run".equals(command) ? " for 'run' (see vmm run --help)" : " (see vmm --help)"));
                        }
                        String v = value(args, ++i, a);
                        if (name.equals("device")) {
                            devices.add(Path.of(v));
                        } else if (name.equals("drive")) {
                            drives.add(v);
                        } else {
                            options.put(name, v);
                        }
                    } else if (command == null) {
                        command = a;
                    } else {
                        rest.add(a);
                    }
                }
            }
        }
        if (!rest.isEmpty()) {
            throw new LaunchException(LaunchException.CONFIG, "unexpected argument " + rest.get(0) + " (see vmm --help)");
        }
        if (command == null || command.equals("help")) {
            out.print(HELP);
            return command == null ? LaunchException.CONFIG : 0;
        }
        if (!command.equals("run")) {
            for (String name : options.keySet()) {
                if (!name.equals("feature")) {
                    throw new LaunchException(LaunchException.CONFIG, "option --" + name + " is an option of 'run', not of '" + command
                            + "' (see vmm --help)");
                }
            }
            if (!devices.isEmpty() || !drives.isEmpty() || entropy) {
                throw new LaunchException(LaunchException.CONFIG, "option --" + (!devices.isEmpty() ? "device" : !drives.isEmpty()
                        ? "drive" : "entropy") + " is an option of 'run', not of '" + command + "' (see vmm --help)");
            }
        }
        String feature = options.getOrDefault("feature", DEFAULT_FEATURE);
        return switch (command) {
            case "run" -> runVmm(home(), feature, options, devices, drives, entropy, err);
            case "shell" -> shell(home(), feature);
            case "features" -> listFeatures(home(), out);
            default -> throw new LaunchException(LaunchException.CONFIG, "unknown command '" + command + "' (see vmm --help)");
        };
    }

    private static String value(String[] args, int i, String option) throws LaunchException {
        if (i >= args.length || args[i].startsWith("--")) {
            throw new LaunchException(LaunchException.CONFIG, "option " + option + " needs a value");
        }
        return args[i];
    }

    /** Options of 'run' that set the feature's VM configuration rather than the run itself. */
    static final List<String> VM_OPTIONS = List.of("backend", "engine", "memory", "kernel", "initrd", "cmdline", "console", "vcpus", "icount");
    /** Every option that takes a value; all but --feature belong to 'run'. */
    static final Set<String> OPTIONS = Set.copyOf(java.util.stream.Stream.concat(VM_OPTIONS.stream(),
            java.util.stream.Stream.concat(java.util.stream.Stream.of("feature", "timeout", "stats", "device", "drive", "on-reset"),
                    ApiOptions.NAMES.stream())).toList());
    /** How long after --timeout the watchdog ends a run that did not end by itself. */
    static final long WATCHDOG_GRACE_MS = 10_000;

    /**
     * Checks everything first (options, the feature, its VM configurations, the guest images), then
     * starts the framework. With --timeout, the run's deadline counts from here, and a watchdog ends
     * the process if the orderly stop at the deadline does not.
     */
    private static int runVmm(Path home, String feature, Map<String, String> options, List<Path> devices, List<String> driveSpecs,
            boolean entropy, PrintStream err) throws LaunchException {
        long start = System.currentTimeMillis();
        Map<String, String> runOptions = new LinkedHashMap<>(options);
        runOptions.remove("feature");
        String timeout = runOptions.get("timeout");
        long deadline;
        try {
            deadline = timeout == null ? Long.MAX_VALUE : start + RunOptions.millis("timeout", timeout);
            if (runOptions.containsKey("stats")) {
                RunOptions.millis("stats", runOptions.get("stats"));
            }
            String onReset = runOptions.get("on-reset");
            if (onReset != null && !onReset.equals("exit") && !onReset.equals("restart")) {
                throw new IllegalArgumentException("option --on-reset must be exit or restart, not '" + onReset + "'");
            }
        } catch (IllegalArgumentException e) {
            throw new LaunchException(LaunchException.CONFIG, e.getMessage());
        }
        boolean api = ApiOptions.requested(runOptions);
        if (api && (!driveSpecs.isEmpty() || entropy)) {
            throw new LaunchException(LaunchException.CONFIG, "option --" + (entropy ? "entropy" : "drive") + " does not go with"
                    + " --api-sock or --config-file (use PUT /drives/{id} and PUT /entropy, or the config file's drives and entropy)");
        }
        List<Drives.Drive> drives = new ArrayList<>();
        for (String spec : driveSpecs) {
            drives.add(Drives.parse(spec, drives.size()));
        }
        Map<String, String> apiOptions = api ? ApiOptions.take(runOptions) : Map.of();
        Deployment read = FeatureFile.read(featurePath(home, feature), BundleLocator.forHome(home));
        Deployment deployment = withDevices(Drives.with(withVmOptions(api ? ApiOptions.withoutVms(read) : read, runOptions), drives,
                entropy), devices);
        List<VmSettings> vms = checkVms(deployment, home);
        Thread watchdog = timeout == null ? null : watchdog(deadline + WATCHDOG_GRACE_MS, timeout, err);
        // No console shell in 'run': the guest owns the console, and a shell starting while a
        // short run already stops the framework only prints Gogo's complaints.
        // --on-reset reaches the VMM as a framework property: a VM may boot before the run entry is called.
        Map<String, String> properties = new LinkedHashMap<>(Map.of("gosh.args", "--nointeractive"));
        String onReset = runOptions.remove("on-reset");
        if (onReset != null) {
            properties.put(ON_RESET_PROPERTY, onReset);
        }
        try (VmmRuntime runtime = VmmRuntime.start(deployment, properties,
                java.util.Set.of("org.apache.felix.gogo.shell"))) {
            Function<Map<String, String>, Integer> entry = entry(runtime, api ? "api" : "run", deployment);
            Map<String, String> all = new LinkedHashMap<>(runOptions);
            all.putAll(apiOptions);
            all.put(CONFIGURED_VMS, String.join(",", vms.stream().map(VmSettings::name).toList()));
            if (timeout != null) {
                all.put(DEADLINE, Long.toString(deadline));
            }
            try {
                return entry.apply(Map.copyOf(all));
            } catch (IllegalArgumentException e) {
                throw new LaunchException(LaunchException.CONFIG, FeatureFile.oneLine(e), e);
            }
        } finally {
            if (watchdog != null) {
                watchdog.interrupt();
            }
        }
    }

    /**
     * The last resort of --timeout: the run command stops the guests at the deadline, but if the
     * process is still there (a framework that does not stop, a component stuck in a service
     * call) it ends here, with the timeout's exit status.
     */
    private static Thread watchdog(long at, String timeout, PrintStream err) {
        return Thread.ofPlatform().daemon().name("vmm-watchdog").start(() -> {
            try {
                long left;
                while ((left = at - System.currentTimeMillis()) > 0) {
                    Thread.sleep(left);
                }
            } catch (InterruptedException e) {
                return; // the run ended by itself
            }
            err.println("vmm: error: the run did not end within " + WATCHDOG_GRACE_MS / 1000 + " s after its --timeout of " + timeout
                    + " s; exiting");
            err.flush();
            Runtime.getRuntime().halt(TIMEOUT_EXIT);
        });
    }

    /**
     * Checks the feature's VM configurations as the VMM will (VmSettings), plus what only the
     * feature as a whole shows (two VMs of one name) and the guest images; returns them in order.
     */
    static List<VmSettings> checkVms(Deployment d, Path home) throws LaunchException {
        List<VmSettings> vms = new ArrayList<>();
        Map<String, String> pids = new LinkedHashMap<>();
        for (Deployment.Configuration c : d.configurations()) {
            if (!VmSettings.FACTORY_PID.equals(c.factoryPid()) && !VmSettings.FACTORY_PID.equals(c.pid())) {
                continue;
            }
            VmSettings s;
            try {
                s = VmSettings.of(c.values());
            } catch (IllegalArgumentException e) {
                // A message that names the VM is enough; one that cannot (no name) names the configuration.
                throw new LaunchException(LaunchException.CONFIG, e.getMessage().startsWith("VM ") ? e.getMessage()
                        : "configuration " + c.pid() + " of " + d.source() + ": " + e.getMessage());
            }
            String other = pids.putIfAbsent(s.name(), c.pid());
            if (other != null) {
                throw new LaunchException(LaunchException.CONFIG, "VM " + s.name() + " is configured twice (" + other + " and "
                        + c.pid() + " of " + d.source() + ")");
            }
            vms.add(s);
        }
        String dir = home == null ? null : home.toString();
        for (VmSettings s : vms) {
            try {
                if (!s.kernel().isEmpty()) {
                    Path kernel = GuestImage.resolve(s.kernel(), dir);
                    GuestImage.check(kernel, s.memory());
                    GuestImage.protocol(kernel);
                }
                if (!s.initrd().isEmpty()) {
                    if (s.kernel().isEmpty()) {
                        throw new LaunchException(LaunchException.CONFIG, "VM " + s.name() + ": an initrd without a kernel");
                    }
                    GuestImage.check(GuestImage.resolve(s.initrd(), dir), s.memory(), "initrd");
                }
            } catch (IllegalArgumentException e) {
                throw new LaunchException(LaunchException.GUEST, "VM " + s.name() + ": " + e.getMessage());
            }
        }
        return List.copyOf(vms);
    }

    /** Adds device bundles (--device JAR) after the feature's bundles. */
    static Deployment withDevices(Deployment d, List<Path> devices) throws LaunchException {
        if (devices.isEmpty()) {
            return d;
        }
        List<Deployment.BundleJar> bundles = new ArrayList<>(d.bundles());
        for (Path jar : devices) {
            if (!Files.isRegularFile(jar)) {
                throw new LaunchException(LaunchException.CONFIG, "device bundle " + jar + " not found");
            }
            bundles.add(new Deployment.BundleJar(jar.toString(), jar.toAbsolutePath(), 0, true));
        }
        return new Deployment(d.featureId(), d.source(), List.copyOf(bundles), d.configurations(), d.frameworkProperties());
    }

    /**
     * Moves the VM options (--backend, --memory, ...) into the feature's first VM configuration,
     * or a new one named "vm"; the other options stay for the VMM's run command.
     */
    static Deployment withVmOptions(Deployment d, Map<String, String> options) throws LaunchException {
        Map<String, Object> overrides = new LinkedHashMap<>();
        for (String key : VM_OPTIONS) {
            String v = options.remove(key);
            if (v != null) {
                overrides.put(key, key.equals("vcpus") || key.equals("icount") ? (Object) parseInt(key, v) : v);
            }
        }
        if (overrides.isEmpty()) {
            return d;
        }
        List<Deployment.Configuration> configs = new ArrayList<>(d.configurations());
        int i = 0;
        while (i < configs.size() && !VM_FACTORY_PID.equals(configs.get(i).factoryPid())) {
            i++;
        }
        if (i == configs.size()) {
            Map<String, Object> values = new LinkedHashMap<>(overrides);
            values.put("name", "vm");
            configs.add(new Deployment.Configuration(VM_FACTORY_PID + "~vm", VM_FACTORY_PID, "vm", values));
        } else {
            Deployment.Configuration c = configs.get(i);
            Map<String, Object> values = new LinkedHashMap<>(c.values());
            values.putAll(overrides);
            configs.set(i, new Deployment.Configuration(c.pid(), c.factoryPid(), c.name(), values));
        }
        return new Deployment(d.featureId(), d.source(), d.bundles(), List.copyOf(configs), d.frameworkProperties());
    }

    private static Integer parseInt(String option, String v) throws LaunchException {
        try {
            return Integer.valueOf(v);
        } catch (NumberFormatException e) {
            throw new LaunchException(LaunchException.CONFIG, "option --" + option + " needs a number, not '" + v + "'");
        }
    }

    @SuppressWarnings("unchecked")
    static Function<Map<String, String>, Integer> entry(VmmRuntime runtime, String command, Deployment deployment)
            throws LaunchException {
        Object service = runtime.awaitService("(&(objectClass=" + Function.class.getName() + ")(" + COMMAND_PROPERTY + "="
                + command + "))", ENTRY_TIMEOUT_MS);
        if (service == null) {
            throw new LaunchException(LaunchException.CONFIG, "feature " + deployment.featureId() + " started, but no VMM '"
                    + command + "' service appeared within " + ENTRY_TIMEOUT_MS / 1000 + " s; "
                    + Components.describeUnsatisfied(runtime));
        }
        return (Function<Map<String, String>, Integer>) service;
    }

    private static int shell(Path home, String feature) throws LaunchException {
        Deployment deployment = FeatureFile.read(featurePath(home, feature), BundleLocator.forHome(home));
        checkVms(deployment, home);
        VmmRuntime runtime = VmmRuntime.start(deployment, Map.of());
        try {
            runtime.awaitStop();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        runtime.close();
        return 0;
    }

    private static int listFeatures(Path home, PrintStream out) throws LaunchException {
        Path dir = home.resolve("features");
        try (var files = Files.list(dir)) {
            files.filter(p -> p.toString().endsWith(".json")).sorted()
                    .forEach(p -> out.println(p.getFileName().toString().replaceFirst("\\.json$", "")));
        } catch (java.io.IOException e) {
            throw new LaunchException(LaunchException.CONFIG, "cannot list " + dir + ": " + e.getMessage());
        }
        return 0;
    }

    /** A path to an existing file, else a name (with or without .json) in home/features. */
    static Path featurePath(Path home, String feature) throws LaunchException {
        Path direct = Path.of(feature);
        if (Files.isRegularFile(direct)) {
            return direct;
        }
        String file = feature.endsWith(".json") ? feature : feature + ".json";
        Path named = home.resolve("features").resolve(file);
        if (Files.isRegularFile(named)) {
            return named;
        }
        throw new LaunchException(LaunchException.CONFIG, "feature file " + feature + " not found (neither a file nor "
                + named + ")");
    }

    static Path home() throws LaunchException {
        String home = System.getProperty("cloister.home");
        if (home == null) {
            throw new LaunchException(LaunchException.RUNTIME, "system property cloister.home is not set (start through bin/vmm)");
        }
        return Path.of(home);
    }

    private static void configureLogging(boolean verbose) {
        setDefault("org.slf4j.simpleLogger.defaultLogLevel", verbose ? "debug" : "info");
        setDefault("org.slf4j.simpleLogger.showThreadName", "false");
        setDefault("org.slf4j.simpleLogger.showShortLogName", "true");
        setDefault("org.slf4j.simpleLogger.levelInBrackets", "true");
        setDefault("org.slf4j.simpleLogger.logFile", "System.err");
        // Jetty (the API bundle's HTTP server) announces its start and stop at info: only problems are news.
        setDefault("org.slf4j.simpleLogger.log.org.eclipse.jetty", verbose ? "debug" : "warn");
    }

    private static void setDefault(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
