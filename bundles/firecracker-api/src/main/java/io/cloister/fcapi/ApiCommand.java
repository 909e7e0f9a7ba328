package io.cloister.fcapi;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Hashtable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.VmState;
import io.cloister.api.vm.Vmm;
import io.cloister.internal.vmconfig.VmSettings;

/**
 * The 'vmm run --api-sock S' / '--config-file F' entry, called by the launcher on a runtime with
 * no VM: applies the config file, serves Firecracker's API on the socket, and once InstanceStart
 * has created a running VM hands over to the VMM's own run command, which waits for the guest
 * and returns its exit status (the socket keeps serving until then).
 */
@Component(service = Function.class, property = "cloister.command=api")
public class ApiCommand implements Function<Map<String, String>, Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(ApiCommand.class);
    static final String API_SOCK = "api-sock";
    static final String CONFIG_FILE = "config-file";
    /** Options the launcher passes on to the run command unchanged. */
    static final java.util.Set<String> RUN_OPTIONS = java.util.Set.of("timeout", "stats", "cloister.deadline");
    /** How long InstanceStart waits for the VM to run (the VMM boots in well under a second). */
    static final long START_MS = 10_000;
    /** The device services InstanceStart waits for (by name: the API bundle does not use the device API). */
    static final String DEVICE = "io.cloister.api.device.BusDevice";

    @Reference
    Vmm vmm;

    @Reference
    ConfigurationAdmin configAdmin;

    @Reference(target = "(cloister.command=run)")
    Function<Map<String, String>, Integer> run;

    private volatile Instance current;
    private BundleContext context;

    @Activate
    void activate(BundleContext context) {
        this.context = context;
    }

    @Override
    public Integer apply(Map<String, String> options) {
        for (String key : options.keySet()) {
            if (!key.equals(API_SOCK) && !key.equals(CONFIG_FILE) && !key.equals("cloister.configured-vms") && !key.equals("backend") && !key.equals("engine")
                    && !RUN_OPTIONS.contains(key)) {
                throw new IllegalArgumentException("unknown option --" + key + " with --api-sock/--config-file");
            }
        }
        long deadline = options.containsKey("cloister.deadline") ? Long.parseLong(options.get("cloister.deadline")) : Long.MAX_VALUE;
        Instance instance = new Instance(() -> vmm, this::start, options.get("backend"), options.get("engine"));
        instance.deviceBundles(new DeviceBundles(context));
        current = instance;
        ApiServer server = null;
        try {
            if (options.containsKey(API_SOCK)) {
                long t0 = System.nanoTime();
                long cpu0 = java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
                try {
                    server = ApiServer.start(Path.of(options.get(API_SOCK)), new Routes(instance));
                } catch (IOException e) {
                    throw new IllegalArgumentException(e.getMessage());
                }
                // Firecracker reports its API ready within 8 ms of CPU time: this says how we compare.
                LOG.info("API on {} (server started in {} ms, {} ms of this thread's CPU)", server.socket(),
                        (System.nanoTime() - t0) / 1_000_000,
                        (java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - cpu0) / 1_000_000);
            }
            if (options.containsKey(CONFIG_FILE)) {
                try {
                    ConfigFile.apply(instance, read(Path.of(options.get(CONFIG_FILE))));
                } catch (Fault f) {
                    throw new IllegalArgumentException("--config-file " + options.get(CONFIG_FILE) + ": " + f.getMessage());
                }
            }
            String name;
            try {
                long left = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : Math.max(1, deadline - System.currentTimeMillis());
                name = instance.started().get(left, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                System.err.println("vmm: no VM was started (PUT /actions InstanceStart) within --timeout " + options.get("timeout") + " s");
                return 124;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return 1;
            } catch (ExecutionException e) {
                return 1; // the component went away under the run
            }
            Map<String, String> runOptions = new LinkedHashMap<>();
            options.forEach((k, v) -> {
                if (RUN_OPTIONS.contains(k)) {
                    runOptions.put(k, v);
                }
            });
            runOptions.put("cloister.configured-vms", name);
            return run.apply(Map.copyOf(runOptions));
        } finally {
            if (server != null) {
                server.close();
            }
            instance.metrics.close();
            current = null;
        }
    }

    private static String read(Path file) {
        try {
            if (Files.size(file) > 1 << 20) {
                throw new Fault("larger than 1 MiB");
            }
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("--config-file " + file + " cannot be read: " + Json.oneLine(e.toString()));
        }
    }

    /**
     * InstanceStart: writes the VM's factory configuration and waits until the VM runs (or has
     * already ended), or fails; a VM that fails or does not run in time is deleted again, with
     * its reason in the fault, so the client may correct the configuration and start again.
     */
    VirtualMachine start(Map<String, Object> values, List<Instance.Device> devices) {
        String name = (String) values.get("name");
        List<Configuration> made = devices(devices);
        Configuration config;
        try {
            config = configAdmin.getFactoryConfiguration(VmSettings.FACTORY_PID, name, "?");
            config.update(new Hashtable<>(values));
        } catch (IOException e) {
            delete(made);
            throw new Fault("InstanceStart: the VM configuration was refused: " + Json.oneLine(e.toString()));
        }
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_MS);
        String why = "the VMM did not create it";
        while (System.nanoTime() < end) {
            VirtualMachine vm = vmm.vm(name).orElse(null);
            if (vm != null) {
                VmState s = vm.state();
                if (s == VmState.RUNNING || s == VmState.STOPPED) {
                    return vm;
                }
                why = vm.status();
                if (s == VmState.FAILED) {
                    break;
                }
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        made.add(config);
        delete(made);
        throw new Fault("InstanceStart: VM " + name + " did not start: " + why);
    }

    /**
     * Writes the devices' configurations and waits until each is a device service: the guest is
     * told of its virtio devices when it is loaded, so they must be there before the VM is.
     * Whatever was made is deleted again if one does not come.
     */
    private List<Configuration> devices(List<Instance.Device> devices) {
        List<Configuration> made = new ArrayList<>();
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_MS);
        try {
            for (Instance.Device d : devices) {
                Configuration c = configAdmin.getFactoryConfiguration(d.factoryPid(), d.name(), "?");
                c.update(new Hashtable<>(d.values()));
                made.add(c);
            }
            for (int i = 0; i < made.size(); i++) {
                String filter = "(&(objectClass=" + DEVICE + ")(service.pid=" + made.get(i).getPid() + "))";
                while (context.getAllServiceReferences(null, filter) == null) {
                    if (System.nanoTime() > end) {
                        throw new Fault("InstanceStart: " + devices.get(i).name() + " did not become a device within " + START_MS / 1000
                                + " s (the VMM's log says why)");
                    }
                    Thread.sleep(2);
                }
            }
            return made;
        } catch (IOException | InvalidSyntaxException e) {
            delete(made);
            throw new Fault("InstanceStart: a device configuration was refused: " + Json.oneLine(e.toString()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            delete(made);
            throw new Fault("InstanceStart: interrupted while the devices were made");
        } catch (Fault f) {
            delete(made);
            throw f;
        }
    }

    private static void delete(List<Configuration> configs) {
        for (Configuration c : configs) {
            try {
                c.delete();
            } catch (IOException | IllegalStateException e) {
                LOG.warn("cannot delete configuration {}: {}", c.getPid(), e.toString());
            }
        }
    }

    @Deactivate
    void deactivate() {
        Instance i = current;
        if (i != null) {
            i.started().completeExceptionally(new IllegalStateException("the API bundle stopped"));
        }
    }
}
