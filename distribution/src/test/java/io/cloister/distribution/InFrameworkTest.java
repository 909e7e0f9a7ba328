package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Dictionary;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;
import org.osgi.framework.ServiceReference;

import io.cloister.launcher.Components;
import io.cloister.launcher.VmmRuntime;

/** Starts a real Felix with the real bundles of the default feature and checks the wiring. */
class InFrameworkTest {
    static VmmRuntime runtime;

    @BeforeAll
    static void start() throws Exception {
        runtime = Dist.runtime(Dist.DEFAULT_FEATURE);
    }

    @AfterAll
    static void stop() {
        if (runtime != null) {
            runtime.close();
        }
    }

    @Test
    void everyBundleIsActive() {
        assertEquals(Dist.defaultBundlesCount(), runtime.bundles().size());
        for (Bundle b : runtime.bundles()) {
            assertEquals(Bundle.ACTIVE, b.getState(), b.getSymbolicName() + " is not active");
        }
    }

    @Test
    void cloisterComponentsAreSatisfied() throws InterruptedException {
        Set<String> expected = Set.of("io.cloister.vmm.RunCommand", "io.cloister.vmm.VmRegistry", "io.cloister.shell.VmCommands",
                "io.cloister.memory.MemoryManagerImpl", "io.cloister.restrictedmem.RestrictedMemory", "io.cloister.vmm.VmComponent",
                "io.cloister.backend.plain.PlainPolicy", "io.cloister.backend.sev.SevPolicy", "io.cloister.backend.snp.SnpPolicy",
                "io.cloister.backend.tdx.TdxPolicy", "io.cloister.backend.pkvm.PkvmPolicy");
        // ConfigAdmin hands configurations over asynchronously (VmComponent waits for its VM's):
        // wait for the components to settle, with a bound for a broken wiring, then check.
        List<Components.State> states = Components.states(runtime);
        for (long deadline = System.nanoTime() + 30_000_000_000L;
                !settled(states, expected) && System.nanoTime() < deadline; states = Components.states(runtime)) {
            Thread.sleep(50);
        }
        List<String> seen = new ArrayList<>();
        for (Components.State s : states) {
            if (s.bundle().startsWith("io.cloister.")) {
                seen.add(s.component());
                assertTrue(good(s), s.toString());
                assertTrue(s.unsatisfied().isEmpty(), s.toString());
            }
        }
        assertTrue(seen.containsAll(expected), "components seen: " + seen);
    }

    private static boolean settled(List<Components.State> states, Set<String> expected) {
        List<Components.State> ours = states.stream().filter(s -> s.bundle().startsWith("io.cloister.")).toList();
        return ours.stream().allMatch(s -> good(s) && s.unsatisfied().isEmpty())
                && ours.stream().map(Components.State::component).toList().containsAll(expected);
    }

    private static boolean good(Components.State s) {
        // A drive or entropy device exists per configuration; the default feature has none.
        boolean perConfiguration = s.component().equals("io.cloister.virtio.BlockDevice")
                || s.component().equals("io.cloister.virtio.EntropyDevice");
        return s.state().equals("ACTIVE") || s.state().equals("SATISFIED")
                || (perConfiguration && s.state().equals("NOT_CONFIGURED"));
    }

    @Test
    @SuppressWarnings("unchecked")
    void runEntryIsWiredToTheRegistry() throws Exception {
        List<ServiceReference<?>> entries = runtime.services("(&(objectClass=java.util.function.Function)(cloister.command=run))");
        assertEquals(1, entries.size());
        assertEquals("io.cloister.vmm", entries.get(0).getBundle().getSymbolicName());
        var entry = (Function<Map<String, String>, Integer>) runtime.context().getService(entries.get(0));
        assertEquals(0, entry.apply(Map.of()));
        List<ServiceReference<?>> vmm = runtime.services("(objectClass=io.cloister.api.vm.Vmm)");
        assertEquals(1, vmm.size());
        Bundle[] users = vmm.get(0).getUsingBundles();
        assertNotNull(users, "nobody uses the Vmm service");
        assertTrue(List.of(users).stream().anyMatch(b -> b.getSymbolicName().equals("io.cloister.vmm")));
        runtime.context().ungetService(entries.get(0));
    }

    @Test
    void memoryServicesComeFromTheirBundles() {
        List<ServiceReference<?>> mm = runtime.services("(objectClass=io.cloister.api.memory.MemoryManager)");
        assertEquals(1, mm.size());
        assertEquals("io.cloister.memory", mm.get(0).getBundle().getSymbolicName());
        List<ServiceReference<?>> rm = runtime.services("(objectClass=io.cloister.api.restricted.RestrictedMemoryProvider)");
        assertEquals(1, rm.size());
        assertEquals("io.cloister.restrictedmem", rm.get(0).getBundle().getSymbolicName());
    }

    @Test
    void shellCommandsAreRegistered() {
        List<ServiceReference<?>> cmds = runtime.services("(osgi.command.scope=vmm)");
        assertEquals(1, cmds.size());
        assertEquals("io.cloister.shell", cmds.get(0).getBundle().getSymbolicName());
        Object functions = cmds.get(0).getProperty("osgi.command.function");
        assertTrue(List.of((String[]) functions).containsAll(List.of("vms", "info")));
    }

    @Test
    void onlyApiPackagesAreExported() {
        for (Bundle b : runtime.bundles()) {
            if (!b.getSymbolicName().startsWith("io.cloister.")) {
                continue;
            }
            String exports = b.getHeaders().get("Export-Package");
            if (b.getSymbolicName().equals("io.cloister.api")) {
                assertNotNull(exports);
                for (String pkg : exports.split(",(?=[a-z])")) {
                    assertTrue(pkg.startsWith("io.cloister.api"), pkg);
                }
            } else {
                assertEquals(null, exports, b.getSymbolicName() + " exports " + exports);
            }
            assertFalse(b.getHeaders().get("Import-Package") == null, b.getSymbolicName() + " has no imports");
        }
    }

    @Test
    void featureConfigurationsReachConfigAdmin(@TempDir Path dir) throws Exception {
        Path f = Dist.feature(dir, "{\"io.cloister.test.pid\":{\"memory:Long\":268435456,\"name\":\"demo\"},"
                + "\"io.cloister.test.factory~vm1\":{\"vcpus:Integer\":2}}",
                Dist.defaultBundles().toArray(String[]::new));
        try (VmmRuntime rt = Dist.runtime(f)) {
            Object admin = rt.awaitService("(objectClass=org.osgi.service.cm.ConfigurationAdmin)", 5000);
            Class<?> api = admin.getClass().getInterfaces()[0];
            for (Class<?> i : admin.getClass().getInterfaces()) {
                if (i.getName().equals("org.osgi.service.cm.ConfigurationAdmin")) {
                    api = i;
                }
            }
            Object[] configs = (Object[]) api.getMethod("listConfigurations", String.class).invoke(admin, (Object) null);
            assertNotNull(configs);
            Map<String, Dictionary<?, ?>> byPid = new java.util.HashMap<>();
            for (Object c : configs) {
                var cls = c.getClass().getInterfaces()[0];
                byPid.put((String) cls.getMethod("getPid").invoke(c), (Dictionary<?, ?>) cls.getMethod("getProperties").invoke(c));
            }
            assertEquals(268435456L, byPid.get("io.cloister.test.pid").get("memory"));
            assertEquals("demo", byPid.get("io.cloister.test.pid").get("name"));
            assertEquals(2, byPid.get("io.cloister.test.factory~vm1").get("vcpus"));
        }
    }
}
