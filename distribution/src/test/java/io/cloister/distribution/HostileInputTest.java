package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.VmState;
import io.cloister.api.vm.Vmm;
import io.cloister.launcher.BundleLocator;
import io.cloister.launcher.FeatureFile;
import io.cloister.launcher.VmmRuntime;

/** Bad or hostile input to bin/vmm: each is refused in one line, or bounded, and never hangs the VMM. */
class HostileInputTest {
    static final String DEMO_VM = "\"io.cloister.vm~demo\": { \"name\": \"demo\", \"memory\": \"64M\", \"backend\": \"plain\", "
            + "\"engine\": \"auto\", \"kernel\": \"guests/demo.elf\" }";

    @TempDir
    Path dir;

    /** The default feature with its VM configuration replaced by {@code vms}. */
    Path featureWith(String vms) throws Exception {
        String text = Files.readString(Dist.DEFAULT_FEATURE);
        assertTrue(text.contains(DEMO_VM), "the default feature changed; update DEMO_VM");
        return Files.writeString(Files.createTempFile(dir, "feature", ".json"), text.replace(DEMO_VM, vms));
    }

    /** The default feature with guests/rng, which runs until stopped (it waits for a device that never comes). */
    Path busyFeature() throws Exception {
        return featureWith(DEMO_VM.replace("guests/demo.elf", "guests/rng.elf"));
    }

    /** Refused in one line before the framework started: nothing ran, nothing logged. */
    static void assertRefusedUnstarted(Dist.Run r, int code, String... fragments) {
        assertEquals(code, r.code(), r.err());
        assertEquals("", r.out(), "nothing may run");
        List<String> lines = r.err().lines().filter(l -> !l.startsWith("[") || l.startsWith("[INFO]") || l.startsWith("[WARN]")
                || l.startsWith("[ERROR]")).toList();
        assertEquals(1, lines.size(), "one line, and no log of a started framework:\n" + r.err());
        assertTrue(lines.get(0).startsWith("vmm: error: "), lines.get(0));
        for (String f : fragments) {
            assertTrue(lines.get(0).contains(f), "'" + f + "' missing in: " + lines.get(0));
        }
    }

    /** vmm:uninstall takes device bundles only: removing SCR would stop the VMM's components under the guest. */
    @Test
    void onlyDeviceBundlesCanBeUninstalled() throws Exception {
        Dist.Run r = Dist.vmm("vmm:uninstall org.apache.felix.scr\nvmm:uninstall io.cloister.backend.plain\nvmm:vms\nvmm:install "
                + DeviceHotplugTest.EXAMPLE + "\nvmm:uninstall org.example.cloister.rng\nexit 0\n",
                "shell", "--feature", busyFeature().toString());
        assertTrue(r.out().contains("org.apache.felix.scr is one of the VMM's own bundles"), r.out());
        assertTrue(r.out().contains("io.cloister.backend.plain is one of the VMM's own bundles"), r.out());
        assertTrue(r.out().contains("uninstalled org.example.cloister.rng"), r.out());
        assertTrue(r.out().matches("(?s).*demo +RUNNING +plain.*"), r.out());
        assertFalse(r.out().contains("CommandNotFoundException"), r.out());
    }

    /** Every option is checked before the framework starts: no guest runs for a command line that is refused. */
    @Test
    void optionsAreCheckedBeforeAnythingStarts() throws Exception {
        String hello = Dist.HOME.resolve("guests/hello.elf").toString();
        assertRefusedUnstarted(Dist.vmm(null, "run", "--kernel", hello, "--bogus", "1"), 2, "unknown option --bogus for 'run'");
        assertRefusedUnstarted(Dist.vmm(null, "run", "--kernel", hello, "--timeout", "-1"), 2, "bad --timeout '-1'");
        assertRefusedUnstarted(Dist.vmm(null, "run", "--kernel", hello, "--timeout", "0"), 2, "bad --timeout '0'");
        assertRefusedUnstarted(Dist.vmm(null, "run", "--kernel", hello, "--stats", "0"), 2, "bad --stats '0'");
        assertRefusedUnstarted(Dist.vmm(null, "run", "--kernel", hello, "--vcpus", "0"), 2, "vcpus=0 is outside 1..64");
        assertRefusedUnstarted(Dist.vmm(null, "run", "--kernel", hello, "--console", "tcp:localhost:0"), 2,
                "needs a port from 1 to 65535");
        assertRefusedUnstarted(Dist.vmm(null, "shell", "--memory", "1G"), 2, "option --memory is an option of 'run', not of 'shell'");
    }

    /** More memory than the host has can never be backed: refused up front (it was an OutOfMemoryError). */
    @Test
    void memoryBeyondTheHostIsRefused() throws Exception {
        assertRefusedUnstarted(Dist.vmm(null, "run", "--memory", "2000G"), 2,
                "VM demo: memory 2000G is more than this host's physical memory (");
    }

    /** A feature's VM configurations are checked before the framework starts, as the VMM would check them. */
    @Test
    void badVmConfigurationsAreOneLineErrors() throws Exception {
        assertRefusedUnstarted(Dist.vmm(null, "run", "--feature", featureWith(DEMO_VM.replace("\"name\": \"demo\", ", "")).toString()),
                2, "configuration io.cloister.vm~demo of ", "needs a \"name\"");
        assertRefusedUnstarted(Dist.vmm(null, "run", "--feature", featureWith(DEMO_VM.replace("\"name\": \"demo\"", "\"name\": \"\""))
                .toString()), 2, "configuration io.cloister.vm~demo of ", "needs a \"name\"");
        assertRefusedUnstarted(Dist.vmm(null, "run", "--feature", featureWith(DEMO_VM.replace("\"engine\"", "\"vcpus\": \"many\", \"engine\""))
                .toString()), 2, "VM demo: vcpus 'many' is not a whole number");
        assertRefusedUnstarted(Dist.vmm(null, "run", "--feature", featureWith(
                "\"io.cloister.vm~a\": { \"name\": \"x\", \"kernel\": \"guests/hello.elf\" }, "
                        + "\"io.cloister.vm~b\": { \"name\": \"x\", \"kernel\": \"guests/hello.elf\" }").toString()), 2,
                "VM x is configured twice (io.cloister.vm~a and io.cloister.vm~b of ");
        assertRefusedUnstarted(Dist.vmm(null, "run", "--feature", featureWith(DEMO_VM.replace("\"engine\"", "\"vcpu\": 2, \"engine\""))
                .toString()), 2, "VM demo: unknown configuration key 'vcpu'");
    }

    /** The README's typed property: the launcher's class path has what the configuration reader needs. */
    @Test
    void typedPropertiesOfTheReadmeWork() throws Exception {
        Path f = featureWith(DEMO_VM.replace("\"engine\"", "\"vcpus:Integer\": 2, \"engine\"").replace("guests/demo.elf", "guests/smp.elf"));
        Dist.Run r = Dist.vmm(null, "run", "--feature", f.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("smp: 2 vCPUs\n"), r.out());
    }

    /** Without the devices bundle the guest can never boot: an error naming what is missing, not a wait for ever. */
    @Test
    void aFeatureWithoutTheDeviceBusFails() throws Exception {
        String text = Files.readString(Dist.DEFAULT_FEATURE);
        String devices = "    { \"id\": \"io.cloister:cloister-devices:0.1.0\", \"start-order\": \"4\" },\n";
        assertTrue(text.contains(devices), "the default feature changed");
        Path f = Files.writeString(dir.resolve("nodevices.json"), text.replace(devices, ""));
        CommandLineTest.assertOneLineError(Dist.vmm(null, "run", "--feature", f.toString()),
                "VM demo cannot start: waiting for the device bus", "is cloister-devices in the feature?");
    }

    /** What cannot be a guest image is refused before it is read: /dev/zero, a FIFO, a sparse file larger than RAM. */
    @Test
    void aGuestImageThatIsNoImageIsRefusedUnread() throws Exception {
        assumeTrue(Files.exists(Path.of("/dev/zero")), "no /dev/zero here");
        assertRefusedUnstarted(Dist.vmm(null, "run", "--kernel", "/dev/zero"), 2,
                "VM demo: guest image /dev/zero is not a regular file (a character device)");
        Path sparse = dir.resolve("sparse.elf");
        try (RandomAccessFile file = new RandomAccessFile(sparse.toFile(), "rw")) {
            file.setLength(3L << 30);
        }
        assertRefusedUnstarted(Dist.vmm(null, "run", "--kernel", sparse.toString()), 2,
                "guest image " + sparse + " is 3221225472 bytes, more than the guest's RAM (67108864 bytes)");
        Path fifo = fifo("kernel");
        assertRefusedUnstarted(Dist.vmm(null, "run", "--kernel", fifo.toString()), 2, "guest image " + fifo
                + " is not a regular file (a FIFO)");
    }

    /**
     * A large image is mapped, not read onto the heap: 256 MiB of image under a 96 MiB heap boots
     * (reading it whole needed the image's size in heap, and as much again in RSS).
     */
    @Test
    void aLargeImageIsNotCopiedOntoTheHeap() throws Exception {
        Path big = dir.resolve("big.elf");
        long size = 256L << 20;
        try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
            java.nio.ByteBuffer elf = java.nio.ByteBuffer.allocate(0x1003).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            long entry = 0x100000;
            elf.putInt(0x464c457f).put((byte) 2).put((byte) 1).put((byte) 1).position(16);
            elf.putShort((short) 2).putShort((short) 62).putInt(1).putLong(entry).putLong(64).putLong(0).putInt(0)
                    .putShort((short) 64).putShort((short) 56).putShort((short) 2).putShort((short) 64).putShort((short) 0)
                    .putShort((short) 0);
            int note = 64 + 2 * 56;
            // PT_NOTE with the PVH entry, then one PT_LOAD of the whole size at 1 MiB
            elf.putInt(4).putInt(4).putLong(note).putLong(0).putLong(0).putLong(20).putLong(20).putLong(4);
            elf.putInt(1).putInt(5).putLong(0x1000).putLong(entry).putLong(entry).putLong(size).putLong(size).putLong(0x1000);
            elf.putInt(4).putInt(4).putInt(18).put(new byte[] {'X', 'e', 'n', 0}).putInt((int) entry);
            elf.position(0x1000).put((byte) 0xf4).put((byte) 0xeb).put((byte) 0xfd); // hlt; jmp back to it
            f.write(elf.array());
            f.setLength(0x1000 + size);
        }
        Dist.Run r = Dist.vmmWithEnv(Map.of("CLOISTER_JAVA_OPTS", "-Xmx96m"), null, "run", "--kernel", big.toString(), "--memory", "320M");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("VM demo: halted"), r.err());
    }

    /** The VMM checks the image itself too (configurations need not come through the launcher), in one line. */
    @Test
    @SuppressWarnings("unchecked")
    void theVmmRefusesANonFileImageItself() throws Exception {
        Path f = featureWith(DEMO_VM.replace("guests/demo.elf", "/dev/zero"));
        try (VmmRuntime rt = VmmRuntime.start(FeatureFile.read(f, BundleLocator.forHome(Dist.HOME)), Map.of("gosh.args", "--nointeractive"),
                java.util.Set.of("org.apache.felix.gogo.shell"))) {
            var entry = (Function<Map<String, String>, Integer>) rt.awaitService(
                    "(&(objectClass=java.util.function.Function)(cloister.command=run))", 15_000);
            // Bad input, as the launcher's own check would say: one line, status 2 (issue 14).
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> entry.apply(Map.of("cloister.configured-vms", "demo")));
            assertEquals("VM demo: guest image /dev/zero is not a regular file (a character device)", e.getMessage());
            Vmm vmm = Bridge.as(Vmm.class, rt.awaitService("(objectClass=io.cloister.api.vm.Vmm)", 5_000));
            VirtualMachine vm = vmm.vm("demo").orElseThrow();
            assertEquals(VmState.FAILED, vm.state());
            assertEquals("failed: EINVAL: guest image /dev/zero is not a regular file (a character device)", vm.status());
        }
    }

    /** A console that fails (a full disk) ends the run with a failure, reported once. */
    @Test
    void aFailingConsoleFailsTheRunOnce() throws Exception {
        assumeTrue(Files.exists(Path.of("/dev/full")), "no /dev/full here");
        Dist.Run r = Dist.vmm(null, "run", "--console", "file:/dev/full");
        assertEquals(1, r.code(), r.err());
        String failed = "console file:/dev/full failed: No space left on device";
        assertTrue(r.err().contains("vmm: VM demo failed: " + failed), r.err());
        assertTrue(r.err().lines().count() < 10, "bounded:\n" + r.err());
    }

    /**
     * A TCP listener that closes the connection: the guest's next output fails, once, and the run
     * fails (it logged an error per byte, 400 MB of them in 20 s).
     */
    @Test
    void aConsoleConnectionThatClosesFailsTheRunOnce() throws Exception {
        try (java.net.ServerSocket server = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            // workload prints its first words, computes, then prints the checksum: the connection is
            // closed (with a reset) once the first words arrived, long before the checksum comes.
            var closed = java.util.concurrent.CompletableFuture.runAsync(() -> {
                try (java.net.Socket s = server.accept()) {
                    byte[] seen = new byte[64];
                    int n = 0;
                    while (!new String(seen, 0, n).contains("checksum")) {
                        int k = s.getInputStream().read(seen, n, seen.length - n);
                        if (k < 0) {
                            break;
                        }
                        n += k;
                    }
                    s.setSoLinger(true, 0);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            Dist.Run r = Dist.vmm(null, "run", "--kernel", Dist.HOME.resolve("guests/workload.elf").toString(), "--cmdline",
                    "iterations=100", "--console", "tcp:127.0.0.1:" + server.getLocalPort());
            closed.get(30, TimeUnit.SECONDS);
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().contains("vmm: VM demo failed: console tcp:127.0.0.1:" + server.getLocalPort() + " failed: "), r.err());
            assertTrue(r.err().lines().count() < 10, "bounded:\n" + r.err());
        }
    }

    /** A FIFO nobody reads as the console: the run ends (its output lost, said once) instead of hanging in open. */
    @Test
    void aConsoleFifoWithoutReaderDoesNotHang() throws Exception {
        Path fifo = fifo("console");
        Dist.Run r = Dist.vmm(null, "run", "--console", "file:" + fifo, "--timeout", "20");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("vmm: VM demo failed: console file:" + fifo + " lost "), r.err());
    }

    private Path fifo(String name) throws Exception {
        Path fifo = dir.resolve(name);
        Process p;
        try {
            p = new ProcessBuilder("mkfifo", fifo.toString()).start();
        } catch (java.io.IOException e) {
            assumeTrue(false, "no mkfifo here: " + e.getMessage());
            return null;
        }
        assumeTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0, "mkfifo failed");
        return fifo;
    }
}
