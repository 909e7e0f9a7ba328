package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;

import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.Vmm;
import io.cloister.launcher.VmmRuntime;

/**
 * A device bundle built outside Cloister (examples/third-party-device) is installed into a VMM
 * whose guest is running, and uninstalled again: the guest (guests/rng) sees the device appear and
 * disappear, without a restart.
 */
class DeviceHotplugTest {
    static final Path EXAMPLE = Path.of(System.getProperty("cloister.example.device",
            "../examples/third-party-device/target/cloister-example-rng-0.1.0.jar")).toAbsolutePath();

    @TempDir
    Path dir;

    static void await(Path console, String text) throws Exception {
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline) {
            if (Files.exists(console) && Files.readString(console).contains(text)) {
                return;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("'" + text + "' did not appear on the console: " + (Files.exists(console) ? Files.readString(console) : ""));
    }

    @Test
    void aDeviceBundleJoinsAndLeavesARunningGuest() throws Exception {
        Path console = dir.resolve("console.txt");
        Path feature = Files.writeString(dir.resolve("rng.json"), Files.readString(Dist.DEFAULT_FEATURE)
                .replace("\"kernel\": \"guests/demo.elf\"", "\"kernel\": \"guests/rng.elf\", \"console\": \"file:" + console + "\""));
        try (VmmRuntime rt = Dist.runtime(feature)) {
            await(console, "rng: absent\n");
            Bundle device = rt.context().installBundle(EXAMPLE.toUri().toString());
            device.start();
            await(console, "rng: present\n");
            // Let the guest read numbers while the device is there: each of its rounds is a few port exits.
            Vmm vmm = Bridge.as(Vmm.class, rt.awaitService("(objectClass=io.cloister.api.vm.Vmm)", 5000));
            VirtualMachine vm = vmm.vm("demo").orElseThrow();
            long exits = vm.exits();
            Await.until(() -> vm.exits() > exits + 40, 30_000, "the guest to read the device");
            device.uninstall();
            await(console, "rng: values vary\n");
            assertEquals("rng: absent\nrng: present\nrng: absent\nrng: values vary\n", Files.readString(console));
            HotSwapTest.awaitStopped(vm, 10_000);
            assertEquals("guest exited with status 0", vm.status());
        }
    }

    /** A bundle built against another API major version must not resolve, with a message saying why. */
    @Test
    void aDeviceForAnotherApiVersionIsRefused() throws Exception {
        Path jar = dir.resolve("wrong-api.jar");
        Manifest m = new Manifest();
        Attributes a = m.getMainAttributes();
        a.put(Attributes.Name.MANIFEST_VERSION, "1.0");
        a.putValue("Bundle-ManifestVersion", "2");
        a.putValue("Bundle-SymbolicName", "org.example.wrongapi");
        a.putValue("Bundle-Version", "1.0.0");
        a.putValue("Import-Package", "io.cloister.api.device;version=\"[3.0,4)\"");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), m)) {
            out.flush();
        }
        Dist.Run r = Dist.vmm(null, "run", "--device", jar.toString());
        assertEquals(2, r.code(), r.err());
        String err = r.err().lines().filter(l -> l.startsWith("vmm: error")).findFirst().orElse(r.err());
        assertTrue(err.contains("org.example.wrongapi") && err.contains("io.cloister.api.device") && err.contains("3.0.0"), err);
    }

    @Test
    void theExampleDeviceCanBeGivenOnTheCommandLine() throws IOException, InterruptedException {
        Dist.Run r = Dist.vmm(null, "run", "--device", EXAMPLE.toString(), "--kernel", Dist.HOME.resolve("guests/hello.elf").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Hello from a Cloister guest!"), r.out());
    }
}
