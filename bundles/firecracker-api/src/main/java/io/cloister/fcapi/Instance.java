package io.cloister.fcapi;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import jakarta.json.JsonValue;

import io.cloister.api.CloisterException;
import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.VmState;
import io.cloister.api.vm.Vmm;
import io.cloister.internal.vmconfig.VmSettings;

/**
 * One Firecracker microVM: the configuration gathered before InstanceStart, and the VM after it.
 * Pre-boot resources are refused once the VM is started (or starting), post-boot ones before.
 * Everything reaches the VMM through the outer API: {@link Vmm}, {@link VirtualMachine} and a
 * {@link Starter} that writes the VM's ConfigAdmin configuration.
 */
final class Instance {
    /** Firecracker's instance id when none is given; also the Cloister VM's name. */
    static final String ID = "anonymous-instance";
    static final String VERSION = "0.1.0";
    static final String APP_NAME = "Cloister";

    /** Creates the VM from its configuration and waits until it runs; a Fault with the VM's reason if it cannot. */
    interface Starter {
        VirtualMachine start(Map<String, Object> configuration);
    }

    private final Supplier<Vmm> vmm;
    private final Starter starter;
    final ApiLog log = new ApiLog();
    final Metrics metrics = new Metrics();

    private MachineConfig machine = MachineConfig.DEFAULT;
    private BootSource boot;
    private String serialOut;
    private String backend;
    private final String engine;
    private boolean starting;
    private volatile VirtualMachine vm;
    /** Told when the VM has started, so the process hands over to the run command. */
    private final java.util.concurrent.CompletableFuture<String> started = new java.util.concurrent.CompletableFuture<>();

    Instance(Supplier<Vmm> vmm, Starter starter, String backend, String engine) {
        this.vmm = vmm;
        this.starter = starter;
        this.backend = backend;
        this.engine = engine;
    }

    java.util.concurrent.CompletableFuture<String> started() {
        return started;
    }

    VirtualMachine vm() {
        return vm;
    }

    private void preBoot(String what) {
        if (vm != null || starting) {
            throw new Fault(what + ": the operation is not supported after starting the microVM");
        }
    }

    private VirtualMachine postBoot(String what) {
        VirtualMachine v = vm;
        if (v == null) {
            throw new Fault(what + ": the operation is not supported before starting the microVM");
        }
        return v;
    }

    // ---- GET / and /version

    JsonObject info() {
        VirtualMachine v = vm;
        String state;
        if (v == null) {
            state = "Not started";
        } else {
            // Firecracker has no state for an ended VM (its process ends with it); Cloister's answer
            // in the short time before this one ends too is the VM's own state.
            state = switch (v.state()) {
                case RUNNING -> "Running";
                case PAUSED -> "Paused";
                case CREATED -> "Not started";
                case STOPPED -> "Stopped";
                case FAILED -> "Failed";
            };
        }
        return Json.builder().add("id", ID).add("state", state).add("vmm_version", VERSION).add("app_name", APP_NAME).build();
    }

    JsonObject version() {
        return Json.builder().add("firecracker_version", VERSION).build();
    }

    // ---- pre-boot configuration

    synchronized JsonObject machineConfig() {
        return machine.toJson();
    }

    synchronized void putMachineConfig(JsonObject body, boolean patch) {
        preBoot("machine-config");
        machine = MachineConfig.parse(body, machine, patch);
    }

    synchronized void putBootSource(JsonObject body) {
        preBoot("boot-source");
        boot = BootSource.parse(body);
    }

    synchronized void putSerial(JsonObject body) {
        preBoot("serial");
        Json.Fields f = Json.Fields.of(body, "serial", Set.of("serial_out_path", "rate_limiter"));
        if (f.has("rate_limiter")) {
            throw new Fault("serial: rate_limiter is not supported by Cloister");
        }
        String path = f.string("serial_out_path", null);
        if (path != null && path.isBlank()) {
            throw new Fault("serial: serial_out_path is empty");
        }
        serialOut = path == null ? null : java.nio.file.Path.of(path).toAbsolutePath().toString();
    }

    synchronized void putLogger(JsonObject body) {
        preBoot("logger");
        log.configure(ApiLog.parse(body));
    }

    synchronized void putMetrics(JsonObject body) {
        preBoot("metrics");
        metrics.configure(Metrics.parse(body), this::vm);
    }

    /** Cloister has no block device yet: every drive is refused, after its body is read. */
    void putDrive(String id, JsonObject body) {
        throw new Fault("drives: drive '" + id + "' cannot be added: Cloister has no block devices yet (virtio-blk is not implemented)");
    }

    // ---- actions

    void action(JsonObject body) {
        Json.Fields f = Json.Fields.of(body, "actions", Set.of("action_type"));
        String type = f.oneOf("action_type", null, false, "InstanceStart", "SendCtrlAltDel", "FlushMetrics");
        if (type == null) {
            throw new Fault("actions: missing required field 'action_type'");
        }
        switch (type) {
            case "InstanceStart" -> start();
            case "FlushMetrics" -> metrics.flush();
            default -> {
                postBoot("SendCtrlAltDel");
                throw new Fault("SendCtrlAltDel: Cloister has no i8042 keyboard controller to send it through");
            }
        }
    }

    /** The VM configuration InstanceStart writes, checked by the VMM's own rules first. */
    synchronized Map<String, Object> configuration() {
        if (boot == null) {
            throw new Fault("InstanceStart: no boot source (PUT /boot-source with a kernel_image_path first)");
        }
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("name", ID);
        c.put("memory", machine.memSizeMib() + "M");
        c.put("vcpus", machine.vcpuCount());
        c.put("kernel", boot.kernelImagePath());
        c.put("cmdline", boot.bootArgs() == null ? "" : boot.bootArgs());
        if (boot.initrdPath() != null) {
            c.put("initrd", boot.initrdPath());
        }
        if (backend != null) {
            c.put("backend", backend);
        }
        if (engine != null) {
            c.put("engine", engine);
        }
        c.put("console", serialOut == null ? "stdout" : "file:" + serialOut);
        try {
            VmSettings settings = VmSettings.of(c);
            io.cloister.internal.vmconfig.GuestImage.check(java.nio.file.Path.of(boot.kernelImagePath()), settings.memory());
        } catch (IllegalArgumentException e) {
            throw new Fault("InstanceStart: " + e.getMessage());
        }
        return c;
    }

    private void start() {
        Map<String, Object> c;
        synchronized (this) {
            preBoot("InstanceStart");
            c = configuration();
            starting = true;
        }
        VirtualMachine v = null;
        try {
            v = starter.start(c);
        } finally {
            synchronized (this) {
                starting = false;
                vm = v;
            }
        }
        log.log(ApiLog.Level.INFO, "InstanceStart: VM " + v.name() + " " + v.status());
        started.complete(v.name());
    }

    // ---- post-boot

    void patchVm(JsonObject body) {
        Json.Fields f = Json.Fields.of(body, "vm", Set.of("state"));
        String state = f.oneOf("state", null, false, "Paused", "Resumed");
        if (state == null) {
            throw new Fault("vm: missing required field 'state'");
        }
        VirtualMachine v = postBoot("vm");
        // Idempotent, as Firecracker's: asking for the state the VM is in succeeds (the VMM's own
        // pause and resume refuse that, EBUSY, since the shell wants to hear it).
        VmState now = v.state();
        if (state.equals("Paused") ? now == VmState.PAUSED : now == VmState.RUNNING) {
            return;
        }
        try {
            if (state.equals("Paused")) {
                v.pause();
            } else {
                v.resume();
            }
        } catch (CloisterException e) {
            throw new Fault("vm: " + state + " refused: " + e.getMessage());
        }
    }

    synchronized JsonObject vmConfig() {
        JsonObjectBuilder b = Json.builder().add("machine-config", machine.toJson());
        b.add("boot-source", boot == null ? JsonValue.NULL : boot.toJson());
        b.add("drives", Json.PROVIDER.createArrayBuilder());
        b.add("network-interfaces", Json.PROVIDER.createArrayBuilder());
        b.add("logger", log.settings() == null ? JsonValue.NULL : log.settings().toJson());
        b.add("metrics", metrics.path() == null ? JsonValue.NULL : Json.builder().add("metrics_path", metrics.path()).build());
        b.add("serial", serialOut == null ? JsonValue.NULL : Json.builder().add("serial_out_path", serialOut).build());
        return b.build();
    }

    // ---- Cloister's own resources

    synchronized JsonObject backend() {
        VirtualMachine v = vm;
        String b = v != null ? v.backend() : backend == null ? "plain" : backend;
        return Json.builder().add("backend", b).build();
    }

    /** Before start: the backend the VM will be created for; after: a live switch at a safe point. */
    void putBackend(JsonObject body) {
        Json.Fields f = Json.Fields.of(body, "backend", Set.of("backend"));
        String b = f.requiredString("backend");
        if (!b.matches("[a-z0-9][a-z0-9_-]{0,31}")) {
            throw new Fault("backend: '" + b + "' is not a backend name");
        }
        VirtualMachine v;
        synchronized (this) {
            v = vm;
            if (v == null) {
                preBoot("backend");
                backend = b;
                return;
            }
        }
        try {
            v.switchBackend(b);
        } catch (CloisterException e) {
            throw new Fault("backend: switch to '" + b + "' refused: " + e.getMessage());
        }
    }

    JsonValue vms() {
        JsonArrayBuilder a = Json.PROVIDER.createArrayBuilder();
        Vmm m = vmm.get();
        if (m != null) {
            for (VirtualMachine v : m.vms()) {
                a.add(Json.builder().add("name", v.name()).add("state", v.state().name()).add("status", v.status())
                        .add("backend", v.backend()).add("engine", v.engine()).add("vcpus", v.vcpus())
                        .add("started_vcpus", v.startedVcpus()).add("instructions", v.instructions()).add("exits", v.exits())
                        .add("private_pages", v.privatePages()).add("total_pages", v.totalPages()));
            }
        }
        return a.build();
    }

    /** Device bundles installed through the API; null where there is no framework (unit tests). */
    private volatile DeviceBundles deviceBundles;

    void deviceBundles(DeviceBundles bundles) {
        this.deviceBundles = bundles;
    }

    private DeviceBundles bundles() {
        DeviceBundles b = deviceBundles;
        if (b == null) {
            throw new Fault("devices: no OSGi framework to install device bundles into");
        }
        return b;
    }

    /** The VM's devices (none before it boots) and the device bundles the API installed. */
    JsonValue devices() {
        VirtualMachine v = vm;
        JsonArrayBuilder a = Json.PROVIDER.createArrayBuilder();
        if (v != null) {
            v.devices().forEach(a::add);
        }
        DeviceBundles b = deviceBundles;
        return Json.builder().add("vm", v == null ? JsonValue.NULL : Json.PROVIDER.createValue(v.name())).add("devices", a)
                .add("installed", b == null ? Json.PROVIDER.createArrayBuilder() : b.list()).build();
    }

    void putDevice(String id, JsonObject body) {
        DeviceBundles.checkId(id);
        String path = DeviceBundles.path(body);
        bundles().install(id, path);
    }

    void deleteDevice(String id) {
        bundles().uninstall(DeviceBundles.checkId(id));
    }

    JsonValue memory() {
        VirtualMachine v = postBoot("memory");
        JsonArrayBuilder regions = Json.PROVIDER.createArrayBuilder();
        v.memoryMap().forEach(r -> regions.add(Json.builder().add("slot", r.slot()).add("gpa", r.gpa()).add("size", r.size())
                .add("kind", r.kind()).add("read_only", r.readOnly()).add("backing", r.backing())));
        long total = v.totalPages();
        long priv = v.privatePages();
        return Json.builder().add("total_pages", total).add("private_pages", priv).add("shared_pages", total - priv)
                .add("regions", regions).build();
    }

    JsonValue vcpus() {
        VirtualMachine v = postBoot("vcpus");
        JsonObjectBuilder regs = Json.builder();
        try {
            v.registers().forEach(regs::add);
        } catch (CloisterException e) {
            throw new Fault("vcpus: " + e.getMessage());
        }
        return Json.builder().add("vcpus", v.vcpus()).add("started_vcpus", v.startedVcpus()).add("registers", regs).build();
    }

    Optional<VmState> state() {
        return Optional.ofNullable(vm).map(VirtualMachine::state);
    }
}
