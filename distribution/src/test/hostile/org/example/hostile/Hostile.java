package org.example.hostile;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.osgi.framework.Bundle;
import org.osgi.framework.BundleActivator;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.PrototypeServiceFactory;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.ServiceRegistration;

import io.cloister.api.CloisterException;
import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.Space;
import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.Vmm;

/**
 * A hostile device bundle, built against the outer API only (compiled by HostileBundleTest): it
 * tries every path to guest memory the API and the service registry offer and reports, per VM,
 * what it got, in the system property "hostile.report" (lines "key=value"). It is an attacker: it
 * catches everything and keeps going.
 */
public final class Hostile implements BundleActivator {
    /** Guest-physical address and length of the secret (the guest image), set by the test. */
    static final long GPA = Long.getLong("hostile.gpa", 0x100000);
    static final int LENGTH = Integer.getInteger("hostile.length", 256);
    static final String[] INNER = {"io.cloister.api.restricted.RestrictedMemoryProvider", "io.cloister.api.memory.MemoryManager",
            "io.cloister.api.backend.BackendPolicy", "io.cloister.api.cpu.CpuEngine", "io.cloister.api.bus.DeviceBusFactory"};

    final Map<String, String> report = new ConcurrentHashMap<>();

    @Override
    public void start(BundleContext context) throws Exception {
        for (String name : INNER) {
            report.put("find " + name, String.valueOf(refs(context, name, false) + refs(context, name, true)));
            try {
                context.getBundle().loadClass(name);
                report.put("load " + name, "loaded");
            } catch (ClassNotFoundException e) {
                report.put("load " + name, "refused");
            }
        }
        List<String> innerSeen = new ArrayList<>();
        ServiceReference<?>[] all = context.getAllServiceReferences(null, null);
        for (ServiceReference<?> r : all == null ? new ServiceReference<?>[0] : all) {
            for (String c : (String[]) r.getProperty(Constants.OBJECTCLASS)) {
                if (c.startsWith("io.cloister.api.") && !c.startsWith("io.cloister.api.vm.") && !c.startsWith("io.cloister.api.device.")) {
                    innerSeen.add(c);
                }
            }
        }
        report.put("inner services seen", String.valueOf(innerSeen));
        // A fake backend policy under the interface's name: the core must never see it.
        Dictionary<String, Object> props = new Hashtable<>();
        props.put("backend", "plain");
        try {
            context.registerService("io.cloister.api.backend.BackendPolicy", new Object(), props);
            report.put("fake policy", "registered");
        } catch (RuntimeException e) {
            report.put("fake policy", "refused: " + e.getClass().getSimpleName());
        }
        ServiceReference<Vmm> ref = context.getServiceReference(Vmm.class);
        Vmm vmm = context.getService(ref);
        for (VirtualMachine vm : vmm.vms()) {
            report.put(vm.name() + " hostRead", attempt(buffer -> vm.hostRead(GPA, buffer)));
            try {
                report.put(vm.name() + " registers", vm.registers().isEmpty() ? "empty" : "read");
            } catch (CloisterException e) {
                report.put(vm.name() + " registers", "refused " + e.errno());
            }
            report.put(vm.name() + " memoryMap", String.valueOf(vm.memoryMap().size()));
        }
        // The device path: each VM hands this device its context at attach.
        Dictionary<String, Object> dev = new Hashtable<>();
        context.registerService(BusDevice.class.getName(), new PrototypeServiceFactory<BusDevice>() {
            @Override
            public BusDevice getService(Bundle bundle, ServiceRegistration<BusDevice> registration) {
                return new Probe();
            }

            @Override
            public void ungetService(Bundle bundle, ServiceRegistration<BusDevice> registration, BusDevice service) {
            }
        }, dev);
        System.getProperties().put("hostile.report", report);
    }

    /** Runs a read of the secret; "refused ERRNO", or the bytes read as hex. */
    static String attempt(java.util.function.Consumer<MemorySegment> read) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(LENGTH);
            try {
                read.accept(buffer);
            } catch (CloisterException e) {
                return "refused " + e.errno();
            } catch (RuntimeException e) {
                return "failed " + e;
            }
            StringBuilder hex = new StringBuilder("bytes ");
            for (int i = 0; i < LENGTH; i++) {
                hex.append(String.format("%02x", buffer.get(ValueLayout.JAVA_BYTE, i)));
            }
            return hex.toString();
        }
    }

    static int refs(BundleContext context, String name, boolean all) {
        try {
            ServiceReference<?>[] r = all ? context.getAllServiceReferences(name, null) : context.getServiceReferences(name, null);
            return r == null ? 0 : r.length;
        } catch (Exception e) {
            return -1;
        }
    }

    /** The device: on attach it tries DMA to the secret, both ways. */
    final class Probe implements BusDevice {
        @Override
        public String name() {
            return "hostile-probe";
        }

        @Override
        public List<Claim> claims() {
            return List.of(new Claim(Space.PIO, 0x6f0, 4));
        }

        @Override
        public void attach(DeviceContext context) {
            report.put(context.vmName() + " dma read", attempt(buffer -> context.dma().read(GPA, buffer)));
            if (context.vmName().equals("plain")) {
                return; // the test's reference VM: its image is shared, so this write would land and crash it
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment junk = arena.allocate(LENGTH);
                context.dma().write(GPA, junk);
                report.put(context.vmName() + " dma write", "written");
            } catch (CloisterException e) {
                report.put(context.vmName() + " dma write", "refused " + e.errno());
            }
        }

        @Override
        public long read(Space space, long address, int size) {
            return 0;
        }

        @Override
        public void write(Space space, long address, int size, long value) {
        }
    }

    @Override
    public void stop(BundleContext context) {
    }
}
