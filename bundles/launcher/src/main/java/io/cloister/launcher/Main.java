package io.cloister.launcher;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** {@code bin/vmm}: the command line of Cloister. */
public final class Main {
    /** Service property naming the command a VMM entry service implements. */
    public static final String COMMAND_PROPERTY = "cloister.command";
    static final String DEFAULT_FEATURE = "default";
    static final long ENTRY_TIMEOUT_MS = 15_000;
    /** Factory PID of VM configurations. */
    static final String VM_FACTORY_PID = "io.cloister.vm";
    /**
     * Option given to the run entry: the VMs the feature configures. ConfigAdmin delivers
     * configurations asynchronously, so the VMM waits for these before it reports or boots.
     */
    public static final String CONFIGURED_VMS = "cloister.configured-vms";

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
            Usage: vmm run [--feature F] [--backend B] [--engine E] [--memory SIZE] [--vcpus N] [--kernel ELF]
                           [--cmdline S] [--console stdout|file:PATH|tcp:HOST:PORT] [--timeout SECONDS] [--stats SECONDS]
                           [--device JAR]...
              Starts the feature's bundles and boots its VM's guest; the exit status is the guest's (the value
              it wrote to the isa-debug-exit port, 0 if it halted, 1 if it failed, 124 on --timeout).
              --backend   plain, sev, snp, tdx or pkvm       --engine   emulator, kvm or auto
              --memory    guest RAM, e.g. 64M or 1G          --kernel   PVH ELF image (default: the demo guest)
              --vcpus     vCPUs, 1 to 64 (the guest starts vCPUs 1.. with the START_VCPU hypercall)
              --cmdline   the guest's command line           --console  where the guest's serial output goes
              --stats     print instructions, exits and private pages to stderr every SECONDS
              --device    also install this device bundle (repeatable)
            """;

    private Main() {
    }

    public static void main(String[] args) {
        int code = run(args, System.out, System.err);
        System.exit(code);
    }

    /** Runs a command line; returns the exit status. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        boolean verbose = List.of(args).contains("--verbose");
        configureLogging(verbose);
        try {
            return execute(args, out);
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

    private static int execute(String[] args, PrintStream out) throws LaunchException {
        List<String> rest = new ArrayList<>();
        String command = null;
        String feature = DEFAULT_FEATURE;
        Map<String, String> vmOptions = new LinkedHashMap<>();
        List<Path> devices = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--verbose" -> { }
                case "--help", "-h" -> {
                    out.print("run".equals(command) ? RUN_HELP : HELP);
                    return 0;
                }
                case "--feature" -> feature = value(args, ++i, a);
                case "--timeout" -> vmOptions.put("timeout", value(args, ++i, a));
                case "--device" -> devices.add(Path.of(value(args, ++i, a)));
                default -> {
                    if (a.startsWith("--") && "run".equals(command)) {
                        vmOptions.put(a.substring(2), value(args, ++i, a));
                    } else if (a.startsWith("-")) {
                        throw new LaunchException(LaunchException.CONFIG, "unknown option " + a + " (see vmm --help)");
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
        return switch (command) {
            case "run" -> runVmm(home(), feature, vmOptions, devices);
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
    static final List<String> VM_OPTIONS = List.of("backend", "engine", "memory", "kernel", "cmdline", "console", "vcpus");

    private static int runVmm(Path home, String feature, Map<String, String> options, List<Path> devices) throws LaunchException {
        Map<String, String> runOptions = new LinkedHashMap<>(options);
        Deployment deployment = withDevices(withVmOptions(FeatureFile.read(featurePath(home, feature), BundleLocator.forHome(home)),
                runOptions), devices);
        // No console shell in 'run': the guest owns the console, and a shell starting while a
        // short run already stops the framework only prints Gogo's complaints.
        try (VmmRuntime runtime = VmmRuntime.start(deployment, Map.of("gosh.args", "--nointeractive"),
                java.util.Set.of("org.apache.felix.gogo.shell"))) {
            Function<Map<String, String>, Integer> entry = entry(runtime, "run", deployment);
            Map<String, String> all = new LinkedHashMap<>(runOptions);
            all.put(CONFIGURED_VMS, String.join(",", deployment.configurations().stream()
                    .filter(c -> VM_FACTORY_PID.equals(c.factoryPid())).map(Deployment.Configuration::name).toList()));
            try {
                return entry.apply(Map.copyOf(all));
            } catch (IllegalArgumentException e) {
                throw new LaunchException(LaunchException.CONFIG, FeatureFile.oneLine(e), e);
            }
        }
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
                overrides.put(key, key.equals("vcpus") ? (Object) parseInt(key, v) : v);
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
        VmmRuntime runtime = VmmRuntime.start(deployment, Map.of());
        Thread hook = new Thread(runtime::close, "vmm-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            runtime.awaitStop();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        runtime.close();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException exiting) {
            // Gogo's 'exit' ends the JVM itself: the hook is running or ran, and close is idempotent.
        }
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
    }

    private static void setDefault(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
