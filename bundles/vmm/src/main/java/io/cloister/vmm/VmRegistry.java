package io.cloister.vmm;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CopyOnWriteArrayList;

import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.service.component.ComponentServiceObjects;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferenceScope;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.BackendPolicy;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.device.BusDevice;
import io.cloister.api.bus.DeviceBusFactory;
import io.cloister.api.memory.MemoryManager;
import io.cloister.api.restricted.RestrictedMemoryProvider;
import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.Vmm;

/**
 * The VMs of this runtime and the backend policies they can use. Backend services come and go
 * (bundle update, uninstall, a new technology installed); each change is carried to the VMs that
 * use or wait for that backend.
 */
@Component(service = {Vmm.class, VmRegistry.class})
public class VmRegistry implements Vmm, Platform {
    private static final Logger LOG = LoggerFactory.getLogger(VmRegistry.class);
    private final Map<String, Vm> vms = new ConcurrentSkipListMap<>();
    private final List<Backend> backends = new CopyOnWriteArrayList<>();
    private final List<CpuEngine> engines = new CopyOnWriteArrayList<>();
    private final List<Device> devices = new CopyOnWriteArrayList<>();
    private volatile DeviceBusFactory busFactory;
    /** Framework property the launcher sets from 'vmm run --on-reset': restart, or exit (the default). */
    static final String ON_RESET = "cloister.on-reset";
    /**
     * Whether a guest's reset boots it again. A framework property, not a run option: a VM boots as
     * soon as its backend takes it, which may be before the run command is called.
     */
    private volatile boolean restartOnReset;

    @org.osgi.service.component.annotations.Activate
    void activate(org.osgi.framework.BundleContext context) {
        restartOnReset = "restart".equals(context.getProperty(ON_RESET));
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    void addEngine(CpuEngine engine) {
        engines.add(engine);
        for (Vm vm : vms.values()) {
            vm.engineAvailable();
        }
    }

    void removeEngine(CpuEngine engine) {
        engines.remove(engine);
    }

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC)
    void setBusFactory(DeviceBusFactory factory) {
        busFactory = factory;
        for (Vm vm : vms.values()) {
            vm.engineAvailable();
        }
    }

    void unsetBusFactory(DeviceBusFactory factory) {
        if (busFactory == factory) {
            busFactory = null;
        }
    }

    /**
     * Whiteboard: each VM gets its own instance of a device service, attached at a safe point.
     * Only prototype-scoped services can give one instance per VM; any other is refused.
     */
    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC, scope = ReferenceScope.PROTOTYPE)
    void addDevice(ComponentServiceObjects<BusDevice> instances, ServiceReference<BusDevice> ref) {
        String bundle = ref.getBundle().getSymbolicName() + " " + ref.getBundle().getVersion();
        if (!Constants.SCOPE_PROTOTYPE.equals(ref.getProperty(Constants.SERVICE_SCOPE))) {
            LOG.error("device service {} of {} refused: it is not prototype-scoped, so one object would serve every VM "
                    + "(declare it with @Component(scope = ServiceScope.PROTOTYPE))", ref.getProperty(Constants.SERVICE_ID), bundle);
            return;
        }
        String name;
        List<io.cloister.api.device.Claim> claims;
        try {
            BusDevice probe = instances.getService();
            try {
                name = probe.name();
                claims = List.copyOf(probe.claims());
            } finally {
                instances.ungetService(probe);
            }
        } catch (RuntimeException e) {
            LOG.error("device service of {} refused: it failed to say its name: {}", bundle, e.toString());
            return;
        }
        Device d = new Device(name, new ServiceInstances(instances), bundle, claims,
                ref.getProperty("vm") instanceof String vm && !vm.isBlank() ? vm : null, virtio(ref));
        devices.add(d);
        for (Vm vm : vms.values()) {
            vm.attachDevice(d);
        }
    }

    /**
     * The virtio-mmio transport a device service says it is (the virtio bundle's properties), or
     * null: the guest is told about the device from these, not from a table of the VMM's own.
     */
    static Platform.Virtio virtio(ServiceReference<?> ref) {
        if (ref.getProperty("virtio.mmio.base") instanceof Long base && ref.getProperty("virtio.mmio.size") instanceof Long size
                && ref.getProperty("virtio.mmio.irq") instanceof Integer irq && ref.getProperty("virtio.device") instanceof Integer type) {
            return new Platform.Virtio(base, size, irq, type, Boolean.TRUE.equals(ref.getProperty("drive.root")),
                    Boolean.TRUE.equals(ref.getProperty("drive.readOnly")));
        }
        return null;
    }

    /** A prototype-scoped device service as a VM's source of its own instance. */
    private record ServiceInstances(ComponentServiceObjects<BusDevice> service) implements Instances {
        @Override
        public BusDevice get() {
            return service.getService();
        }

        @Override
        public void release(BusDevice instance) {
            service.ungetService(instance);
        }
    }

    void removeDevice(ComponentServiceObjects<BusDevice> instances) {
        for (Device d : devices) {
            if (d.instances() instanceof ServiceInstances s && s.service() == instances) {
                devices.remove(d);
                for (Vm vm : vms.values()) {
                    vm.detachDevice(d);
                }
            }
        }
    }

    /** {@code auto} prefers kvm and falls back to the emulator; a name asks for that engine only. */
    @Override
    public CpuEngine engine(String setting) {
        CpuEngine fallback = null;
        for (CpuEngine e : engines) {
            if (e.unavailableReason() != null) {
                continue;
            }
            if (e.name().equals(setting) || (setting.equals("auto") && e.name().equals("kvm"))) {
                return e;
            }
            if (setting.equals("auto") && fallback == null) {
                fallback = e;
            }
        }
        if (fallback != null && !fallbackLogged) {
            fallbackLogged = true;
            for (CpuEngine e : engines) {
                if (e.name().equals("kvm")) {
                    LOG.info("engine auto: kvm unavailable ({}); using {}", e.unavailableReason(), fallback.name());
                }
            }
        }
        return fallback;
    }

    private volatile boolean fallbackLogged;

    /** VM configurations that were refused, by VM name: what was wrong. */
    private final Map<String, String> configurationErrors = new java.util.concurrent.ConcurrentHashMap<>();

    void configurationFailed(String name, String why) {
        LOG.error("VM {}: configuration refused: {}", name, why);
        configurationErrors.put(name == null ? "" : name, why);
    }

    /** Why the configuration of the VM of this name was refused, or null. */
    String configurationError(String name) {
        return configurationErrors.get(name);
    }

    @Override
    public String engineMissing(String setting) {
        java.util.List<String> names = new java.util.ArrayList<>();
        for (CpuEngine e : engines) {
            String why = e.unavailableReason();
            if (why != null && (e.name().equals(setting) || setting.equals("auto"))) {
                return e.name() + " unavailable: " + why;
            }
            names.add(e.name());
        }
        return names.isEmpty() ? setting + ": no CPU engine bundle is active"
                : "no engine '" + setting + "'; installed: " + String.join(", ", names) + ", or auto";
    }

    @Override
    public DeviceBusFactory busFactory() {
        return busFactory;
    }

    @Override
    public List<Device> devices() {
        return List.copyOf(devices);
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    void addBackend(BackendPolicy policy, ServiceReference<BackendPolicy> ref) {
        Object name = ref.getProperty(BackendPolicy.PROPERTY);
        if (!(name instanceof String n) || !n.equals(policy.name())) {
            LOG.error("backend service of {} ignored: property {}={} does not match its name {}", ref.getBundle().getSymbolicName(),
                    BackendPolicy.PROPERTY, name, policy.name());
            return;
        }
        Backend b = new Backend(n, policy, ref.getBundle().getSymbolicName() + " " + ref.getBundle().getVersion());
        backends.add(b);
        LOG.debug("backend {} available from {}", n, b.bundle());
        for (Vm vm : vms.values()) {
            vm.offer(b);
        }
    }

    void removeBackend(BackendPolicy policy) {
        Backend gone = null;
        for (Backend b : backends) {
            if (b.policy() == policy) {
                gone = b;
            }
        }
        if (gone == null) {
            return;
        }
        backends.remove(gone);
        for (Vm vm : vms.values()) {
            vm.policyGone(gone);
            Backend successor = backend(gone.name());
            if (successor != null) {
                vm.offer(successor);
            }
        }
    }

    /** A registered backend of that name, or null. */
    @Override
    public Backend backend(String name) {
        for (Backend b : backends) {
            if (b.name().equals(name)) {
                return b;
            }
        }
        return null;
    }

    List<String> backendNames() {
        return backends.stream().map(Backend::name).distinct().sorted().toList();
    }

    Vm create(Vm.Spec spec, MemoryManager memory, RestrictedMemoryProvider restricted) {
        Vm vm = new Vm(spec, memory, restricted, this);
        vm.reboot.onReset(restartOnReset);
        if (vms.putIfAbsent(spec.name(), vm) != null) {
            throw new CloisterException(Errno.EEXIST, "a VM named '" + spec.name() + "' exists already");
        }
        Backend b = backend(spec.backend());
        if (b == null) {
            vm.waitingFor("backend '" + spec.backend() + "', which is not installed (installed: "
                    + (backendNames().isEmpty() ? "none" : String.join(", ", backendNames())) + ")");
            LOG.warn("VM {}: {}", spec.name(), vm.status());
        } else {
            vm.offer(b);
        }
        return vm;
    }

    void destroy(Vm vm) {
        vms.remove(vm.name(), vm);
        vm.destroy();
    }

    @Override
    public List<VirtualMachine> vms() {
        return new ArrayList<>(vms.values());
    }

    @Override
    public Optional<VirtualMachine> vm(String name) {
        return Optional.ofNullable(vms.get(name));
    }

    @Deactivate
    void deactivate() {
        for (Vm vm : vms.values()) {
            LOG.info("stopping VM {} ({})", vm.name(), vm.state());
            destroy(vm);
        }
    }
}
