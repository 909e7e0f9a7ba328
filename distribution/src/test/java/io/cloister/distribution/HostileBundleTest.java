package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleException;
import org.osgi.framework.wiring.FrameworkWiring;

import io.cloister.api.vm.VmState;
import io.cloister.api.vm.Vmm;
import io.cloister.launcher.VmmRuntime;

/**
 * Issue 12 item 3: a hostile device bundle, built here against the outer API only
 * (src/test/hostile), tries every path to guest memory that the exported API and the service
 * registry offer, on a VM of every backend at once: nothing private is readable (refused, or SEV
 * ciphertext), nothing writable, no inner service or class reachable, no handle that could close
 * memory, and bundles that reach for inner packages do not resolve.
 */
class HostileBundleTest {
    static final List<String> BACKENDS = List.of("plain", "sev", "snp", "tdx", "pkvm");

    @TempDir
    Path dir;

    @Test
    void aHostileDeviceBundleReachesNothingPrivateOnAnyBackend() throws Exception {
        StringBuilder vms = new StringBuilder();
        for (String b : BACKENDS) {
            vms.append(String.format("%s\"io.cloister.vm~%s\": { \"name\": \"%s\", \"memory\": \"16M\", \"backend\": \"%s\", "
                    + "\"engine\": \"emulator\", \"kernel\": \"guests/workload.elf\", \"cmdline\": \"iterations=1000000000000\", "
                    + "\"console\": \"file:%s\" }", vms.isEmpty() ? "" : ",", b, b, b, dir.resolve(b + ".txt")));
        }
        String text = Files.readString(Dist.DEFAULT_FEATURE);
        text = text.substring(0, text.indexOf("\"configurations\"")) + "\"configurations\": {" + vms + "}\n}\n";
        Path feature = Files.writeString(dir.resolve("five.json"), text);
        Path hostile = hostileBundle();
        try (VmmRuntime rt = Dist.runtime(feature)) {
            Vmm vmm = Bridge.as(Vmm.class, rt.awaitService("(objectClass=io.cloister.api.vm.Vmm)", 10_000));
            for (String b : BACKENDS) {
                awaitState(vmm, b, VmState.RUNNING);
            }
            Bundle bundle = rt.context().installBundle(hostile.toUri().toString());
            bundle.start();
            @SuppressWarnings("unchecked")
            Map<String, String> report = (Map<String, String>) System.getProperties().get("hostile.report");
            long deadline = System.currentTimeMillis() + 30_000;
            while (BACKENDS.stream().anyMatch(b -> !report.containsKey(b + " dma read")) && System.currentTimeMillis() < deadline) {
                Thread.sleep(10);
            }
            System.out.println("hostile bundle's report: " + new java.util.TreeMap<>(report));

            for (String name : new String[] {"RestrictedMemoryProvider", "MemoryManager", "BackendPolicy", "CpuEngine", "DeviceBusFactory"}) {
                String key = report.keySet().stream().filter(k -> k.startsWith("find ") && k.endsWith("." + name)).findFirst().orElseThrow();
                assertEquals("0", report.get(key), key);
                assertEquals("refused", report.get(key.replace("find ", "load ")), "class of " + name);
            }
            assertEquals("[]", report.get("inner services seen"));
            String plaintext = report.get("plain hostRead");
            assertTrue(plaintext.startsWith("bytes ") && !plaintext.matches("bytes (00)+"), "the plain VM's image is shared: " + plaintext);
            for (String b : List.of("sev", "snp", "tdx", "pkvm")) {
                for (String path : List.of(" hostRead", " dma read")) {
                    String got = report.get(b + path);
                    if (b.equals("sev")) {
                        assertTrue(got.startsWith("bytes "), b + path + ": " + got);
                        assertNotEquals(plaintext, got, "sev gives ciphertext, never the plaintext");
                    } else {
                        assertEquals("refused EACCES", got, b + path);
                    }
                }
                assertEquals("refused EACCES", report.get(b + " dma write"), b + " dma write");
            }
            for (String b : List.of("snp", "tdx", "pkvm")) {
                assertEquals("refused EACCES", report.get(b + " registers"), b + ": vCPU state is the guest's");
            }
            for (String b : List.of("plain", "sev")) {
                assertEquals("read", report.get(b + " registers"), b);
            }
            // The fake policy the bundle registered is invisible to the core.
            Bundle core = Stream.of(rt.context().getBundles()).filter(x -> "io.cloister.vmm".equals(x.getSymbolicName())).findFirst()
                    .orElseThrow();
            assertEquals(1, core.getBundleContext().getServiceReferences("io.cloister.api.backend.BackendPolicy", "(backend=plain)").length);
            for (String b : BACKENDS) {
                assertEquals(VmState.RUNNING, vmm.vm(b).orElseThrow().state(), b + " runs on, untouched");
            }
            // Bundles that reach for the inner circle do not resolve.
            Bundle importer = rt.context().installBundle(manifestOnly("org.example.importer", "Import-Package", "io.cloister.api.restricted").toUri().toString());
            BundleException e = assertThrows(BundleException.class, importer::start);
            assertTrue(e.getMessage().contains("io.cloister.api.restricted"), e.getMessage());
            Bundle requirer = rt.context().installBundle(manifestOnly("org.example.requirer", "Require-Bundle", "io.cloister.api").toUri().toString());
            assertThrows(BundleException.class, requirer::start);
            Bundle fragment = rt.context().installBundle(manifestOnly("org.example.fragment", "Fragment-Host", "io.cloister.vmm").toUri().toString());
            rt.context().getBundle(0).adapt(FrameworkWiring.class).resolveBundles(List.of(fragment));
            assertEquals(Bundle.INSTALLED, fragment.getState(), "a fragment may not attach to a core bundle");
        } finally {
            System.getProperties().remove("hostile.report");
        }
    }

    static void awaitState(Vmm vmm, String name, VmState state) throws Exception {
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline) {
            if (vmm.vm(name).filter(vm -> vm.state() == state).isPresent()) {
                return;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("VM " + name + " did not reach " + state);
    }

    /** Compiles src/test/hostile against the API jar (as a third party would) and packs the bundle. */
    Path hostileBundle() throws IOException {
        Path src = Path.of("src/test/hostile/org/example/hostile/Hostile.java");
        Path classes = Files.createDirectories(dir.resolve("hostile-classes"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        int rc = javac.run(null, null, null, "-d", classes.toString(), "-classpath", System.getProperty("java.class.path"),
                "--release", "25", src.toString());
        assertEquals(0, rc, "the hostile bundle compiles against the API");
        Manifest m = manifest("org.example.hostile");
        m.getMainAttributes().putValue("Bundle-Activator", "org.example.hostile.Hostile");
        m.getMainAttributes().putValue("Import-Package", "io.cloister.api;version=\"[1.0,2)\",io.cloister.api.device;version=\"[2.0,3)\","
                + "io.cloister.api.vm;version=\"[2.0,3)\",org.osgi.framework");
        Path jar = dir.resolve("hostile.jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), m); Stream<Path> files = Files.walk(classes)) {
            for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                out.putNextEntry(new JarEntry(classes.relativize(f).toString().replace('\\', '/')));
                out.write(Files.readAllBytes(f));
                out.closeEntry();
            }
        }
        return jar;
    }

    Path manifestOnly(String bsn, String header, String value) throws IOException {
        Manifest m = manifest(bsn);
        m.getMainAttributes().putValue(header, value);
        Path jar = dir.resolve(bsn + ".jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), m)) {
            out.flush();
        }
        return jar;
    }

    static Manifest manifest(String bsn) {
        Manifest m = new Manifest();
        Attributes a = m.getMainAttributes();
        a.put(Attributes.Name.MANIFEST_VERSION, "1.0");
        a.putValue("Bundle-ManifestVersion", "2");
        a.putValue("Bundle-SymbolicName", bsn);
        a.putValue("Bundle-Version", "1.0.0");
        return m;
    }
}
