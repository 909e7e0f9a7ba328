package io.cloister.fcapi;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
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

    /**
     * Creates the VM's devices (factory configurations of the device bundles, each naming the VM)
     * and the VM from its configuration, and waits until it runs; a Fault with the reason if it cannot.
     */
    interface Starter {
        VirtualMachine start(Map<String, Object> configuration, List<Device> devices);
    }

    /** A device configuration InstanceStart writes before the VM's: its factory PID, its name, its values. */
    record Device(String factoryPid, String name, Map<String, Object> values) {
    }

    static final String BLOCK_PID = "io.cloister.virtio.blk";
    static final String ENTROPY_PID = "io.cloister.virtio.rng";
    /** virtio-mmio slots of a VM (the virtio bundle's layout: 0xd0000000 + 4 KiB n). */
    static final int SLOTS = 8;

    private final Supplier<Vmm> vmm;
    private final Starter starter;
    final ApiLog log = new ApiLog();
    final Metrics metrics = new Metrics();

    private MachineConfig machine = MachineConfig.DEFAULT;
    private BootSource boot;
    private String serialOut;
    /** Drives by id, in the order they were first put. */
    private final Map<String, Drive> drives = new LinkedHashMap<>();
    private boolean entropy;
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

    /** A drive, new or replacing the one of its id (before start, as Firecracker allows). */
    synchronized void putDrive(String id, JsonObject body) {
        preBoot("drives");
        Drive d = Drive.parse(id, body);
        if (d.root()) {
            for (Drive other : drives.values()) {
                if (other.root() && !other.id().equals(id)) {
                    throw new Fault("drives: drive '" + other.id() + "' is the root device already (is_root_device); a VM has one");
                }
            }
        }
        if (!drives.containsKey(id) && drives.size() + (entropy ? 1 : 0) >= SLOTS) {
            throw new Fault("drives: a VM has " + SLOTS + " virtio-mmio slots and all are taken");
        }
        drives.put(id, d);
    }

    /**
     * Firecracker's PATCH /drives/{id} (after start: a new path_on_host or rate limiter for a
     * running guest). The device cannot change its image under a running guest's driver yet, so
     * it is refused, after the body is checked as Firecracker checks it.
     */
    void patchDrive(String id, JsonObject body) {
        Json.Fields f = Json.Fields.of(body, "drives", Set.of("drive_id", "path_on_host", "rate_limiter"));
        if (!id.equals(f.requiredString("drive_id"))) {
            throw new Fault("drives: drive_id '" + f.string("drive_id", "") + "' is not the drive of the path ('" + id + "')");
        }
        postBoot("drives");
        synchronized (this) {
            if (!drives.containsKey(id)) {
                throw new Fault("drives: there is no drive '" + id + "'");
            }
        }
        throw new Fault("drives: updating drive '" + id + "' after start is not supported by Cloister yet (the device cannot"
                + " change its image under the guest's driver)");
    }

    /** Firecracker's entropy device (virtio-rng); its only field, rate_limiter, is not supported. */
    synchronized void putEntropy(JsonObject body) {
        preBoot("entropy");
        Json.Fields f = Json.Fields.of(body, "entropy", Set.of("rate_limiter"));
        if (f.has("rate_limiter")) {
            throw new Fault("entropy: rate_limiter is not supported by Cloister");
        }
        if (!entropy && drives.size() >= SLOTS) {
            throw new Fault("entropy: a VM has " + SLOTS + " virtio-mmio slots and all are taken");
        }
        entropy = true;
    }

    /**
     * The device configurations InstanceStart writes: the root drive first (so it is /dev/vda,
     * as Firecracker orders it), the other drives in the order they were put, then the entropy
     * device, in slots 0, 1, ...
     */
    synchronized List<Device> virtioDevices() {
        List<Drive> order = new ArrayList<>();
        drives.values().stream().filter(Drive::root).forEach(order::add);
        drives.values().stream().filter(d -> !d.root()).forEach(order::add);
        List<Device> out = new ArrayList<>();
        for (Drive d : order) {
            out.add(new Device(BLOCK_PID, ID + "-" + d.id(), d.configuration(ID, out.size())));
        }
        if (entropy) {
            Map<String, Object> values = new LinkedHashMap<>();
            values.put("vm", ID);
            values.put("slot", out.size());
            out.add(new Device(ENTROPY_PID, ID + "-entropy", values));
        }
        return out;
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
                VirtualMachine v = postBoot("SendCtrlAltDel");
                try {
                    v.sendCtrlAltDel();
                } catch (CloisterException e) {
                    throw new Fault("SendCtrlAltDel: " + e.getMessage());
                }
                log.log(ApiLog.Level.INFO, "SendCtrlAltDel: Ctrl-Alt-Del typed into VM " + v.name());
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
        List<Device> devices;
        synchronized (this) {
            preBoot("InstanceStart");
            c = configuration();
            devices = virtioDevices();
            starting = true;
        }
        VirtualMachine v = null;
        try {
            v = starter.start(c, devices);
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
        JsonArrayBuilder d = Json.PROVIDER.createArrayBuilder();
        drives.values().forEach(drive -> d.add(drive.toJson()));
        b.add("drives", d);
        b.add("entropy", entropy ? Json.builder().add("rate_limiter", JsonValue.NULL).build() : JsonValue.NULL);
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
                        .add("exits_by_kind", Metrics.byKind(v.exitsByKind()))
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
        JsonObjectBuilder b = Json.builder().add("total_pages", total).add("private_pages", priv).add("shared_pages", total - priv);
        v.counters().forEach((k, n) -> {
            if (!k.equals("swaps")) {
                b.add(k, n); // conversions, converted, punched and allocated pages
            }
        });
        return b.add("regions", regions).build();
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
