package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs bin/vmm as a user would, as a separate process. */
class CommandLineTest {
    @TempDir
    Path dir;

    static void assertOneLineError(Dist.Run r, String... fragments) {
        assertEquals(2, r.code(), r.err());
        // Log lines ("[INFO] ...") may precede it; the error itself is one line.
        String[] lines = r.err().lines().filter(l -> !l.startsWith("[")).toArray(String[]::new);
        assertEquals(1, lines.length, "expected one error line on stderr, got:\n" + r.err());
        assertTrue(lines[0].startsWith("vmm: error: "), lines[0]);
        for (String f : fragments) {
            assertTrue(lines[0].contains(f), "'" + f + "' missing in: " + lines[0]);
        }
        assertFalse(r.err().contains("\tat "), "stack trace without --verbose");
    }

    /**
     * bin/vmm is the VMM's process, not a wrapper around it: a signal to it stops the VMM (a script
     * that ran java as a child left the VMM running when it was killed; tests leaked such VMMs),
     * and the VMM then cleans up as at a normal end (each killed run left its framework storage).
     */
    @Test
    void killingVmmStopsTheVmm() throws Exception {
        Path socket = dir.resolve("api.sock");
        Path tmp = Files.createDirectories(dir.resolve("tmp")); // the VMM's temporary directory: its framework storage goes there
        ProcessBuilder pb = new ProcessBuilder(Dist.VMM.toString(), "run", "--api-sock", socket.toString())
                .redirectOutput(dir.resolve("out.txt").toFile()).redirectError(dir.resolve("err.txt").toFile());
        pb.environment().put("CLOISTER_JAVA_OPTS", "-Djava.io.tmpdir=" + tmp);
        Process p = pb.start();
        try {
            Await.until(() -> Files.exists(socket) || !p.isAlive(), 60_000, "the API socket");
            assertTrue(p.isAlive(), "the VMM serves its socket: " + Files.readString(dir.resolve("err.txt")));
            assertEquals(List.of(), p.descendants().map(h -> h.info().command().orElse("?")).toList(),
                    "no child process: the VMM is the process itself");
            try (var stored = Files.list(tmp)) {
                assertEquals(1, stored.filter(f -> f.getFileName().toString().startsWith("cloister-osgi-")).count(),
                        "the running VMM keeps its framework storage in java.io.tmpdir");
            }
            p.destroy();
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "SIGTERM ends the VMM");
            try (var left = Files.list(tmp)) {
                assertEquals(List.of(), left.map(f -> f.getFileName().toString()).toList(),
                        "SIGTERM ends the VMM as a normal end does: its framework storage is deleted");
            }
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }

    @Test
    void runWithDefaultsBootsTheDemoGuest() throws Exception {
        Dist.Run r = Dist.vmm(null, "run");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Cloister demo guest: converting the page at 0x"), r.out());
        assertTrue(r.out().contains("private -> shared: refused (errno 95)"), "plain refuses conversions: " + r.out());
        assertTrue(r.out().endsWith("demo done\n"), r.out());
        // SLF4J inside OSGi reaches the console (stderr).
        assertTrue(r.err().contains("[INFO] Vm - VM demo: guest exited with status 0"), r.err());
        assertFalse(r.err().contains("No SLF4J providers"), r.err());
    }

    /** Each backend's feature runs the demo, which shows that backend's semantics. */
    @Test
    void eachBackendFeatureShowsItsSemantics() throws Exception {
        Dist.Run plain = Dist.vmm(null, "run", "--feature", "vmm-plain");
        assertEquals(0, plain.code(), plain.err());
        assertTrue(plain.out().contains("private -> shared: refused (errno 95)"), plain.out());
        for (String backend : new String[] {"pkvm", "tdx", "sev", "snp"}) {
            Dist.Run r = Dist.vmm(null, "run", "--feature", "vmm-" + backend);
            assertEquals(0, r.code(), backend + ": " + r.err());
            String content = backend.equals("pkvm") ? "kept" : "destroyed";
            assertTrue(r.out().contains("private -> shared: ok\ncontent after sharing: " + content + "\n"
                    + "shared -> private: ok\ncontent after unsharing: " + content + "\n"), backend + ": " + r.out());
            assertTrue(r.out().contains("bad attributes: refused (errno 22)\noutside memory: refused (errno 14)\n"
                    + "unaligned: refused (errno 22)\n"), backend + ": " + r.out());
        }
    }

    /** The guest sees its technology (CPUID, SEV_STATUS) and converts with its own instructions. */
    @Test
    void cocoInstructionsReachTheBackend() throws Exception {
        String coco = Dist.HOME.resolve("guests/coco.elf").toString();
        Dist.Run tdx = Dist.vmm(null, "run", "--backend", "tdx", "--kernel", coco);
        assertEquals("coco: TDX\nmap shared: 0x0000000000000000\nmap private: 0x0000000000000000\n"
                + "accept: 0x0000000000000000\naccept again: 0xc000010000000000\n", tdx.out(), tdx.err());
        Dist.Run snp = Dist.vmm(null, "run", "--backend", "snp", "--kernel", coco);
        assertEquals("coco: SEV-SNP, C-bit 51, SEV_STATUS 0x0000000000000007\nto shared: 0x0000000000000000\n"
                + "pvalidate shared: 0x0000000000000001\nto private: 0x0000000000000000\npvalidate: 0x0000000000000000\n"
                + "ghcb to shared: 0x0000000000000000\nghcb to private: 0x0000000000000000\npvalidate again: 0x0000000000000000\n",
                snp.out(), snp.err());
        // SEV: a shared access (no C-bit) to a private page is a memory fault; the VMM converts the
        // page through the backend (content destroyed) and the access goes on.
        Dist.Run sev = Dist.vmm(null, "run", "--backend", "sev", "--kernel", coco);
        assertEquals("coco: SEV, C-bit 51, SEV_STATUS 0x0000000000000001\nto private: 0x0000000000000000\n"
                + "implicit shared read: 0x0000000000000000\n", sev.out(), sev.err());
        Dist.Run plain = Dist.vmm(null, "run", "--kernel", coco);
        assertEquals("coco: none\n", plain.out(), plain.err());
    }

    @Test
    void theGuestsExitStatusIsTheCommands() throws Exception {
        Path workload = Dist.HOME.resolve("guests/workload.elf");
        Dist.Run r = Dist.vmm(null, "run", "--kernel", workload.toString(), "--cmdline", "iterations=2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("workload: 2 iterations, checksum 0x"), r.out());
    }

    /** Four vCPUs on four threads count together with locked instructions and a spinlock. */
    @Test
    void severalVcpusShareTheGuest() throws Exception {
        String smp = Dist.HOME.resolve("guests/smp.elf").toString();
        Dist.Run four = Dist.vmm(null, "run", "--kernel", smp, "--vcpus", "4");
        assertEquals(0, four.code(), four.out() + four.err());
        assertEquals("smp: 4 vCPUs\nsmp: locked adds 80000, increments under the lock 80000 (want 80000)\nsmp: ok\n", four.out());
        assertTrue(four.err().contains("vCPU 3 started at 0x"), four.err());
        Dist.Run one = Dist.vmm(null, "run", "--kernel", smp);
        assertEquals(0, one.code(), one.err());
        assertTrue(one.out().startsWith("smp: 1 vCPU\n"), one.out());
        assertOneLineError(Dist.vmm(null, "run", "--kernel", smp, "--vcpus", "0"), "vcpus=0 is outside 1..64");
        assertOneLineError(Dist.vmm(null, "run", "--memory", "12X"), "bad memory size '12X'");
        assertOneLineError(Dist.vmm(null, "run", "--engine", "kvm"), "VM demo cannot start: waiting for a CPU engine (no engine 'kvm'");
    }

    /**
     * Deterministic time from the command line: the timers guest's interrupt counts are a function
     * of the instructions retired (QemuDifferentialTest has QEMU's -icount print the same), and the
     * option is checked before anything starts.
     */
    @Test
    void icountMakesTimeDeterministic() throws Exception {
        String timers = Dist.HOME.resolve("guests/timers.elf").toString();
        Dist.Run r = Dist.vmm(null, "run", "--icount", "0", "--kernel", timers);
        assertEquals(0, r.code(), r.out() + r.err());
        assertEquals("hlt: pit 50 lapic 16\nspin: pit 12 lapic 4\n", r.out());
        assertOneLineError(Dist.vmm(null, "run", "--icount", "0", "--vcpus", "2", "--kernel", timers),
                "icount (deterministic time) runs one vCPU, not vcpus=2");
        assertOneLineError(Dist.vmm(null, "run", "--icount", "11"), "icount=11 is outside 0..10");
    }

    @Test
    void aBadGuestImageFailsInOneLine() throws Exception {
        Path notElf = Files.writeString(dir.resolve("kernel.elf"), "this is not an ELF file");
        // Refused by the launcher before the framework starts: the kind of kernel is known from its first bytes.
        assertOneLineError(Dist.vmm(null, "run", "--kernel", notElf.toString()), "VM demo: guest image " + notElf
                + " is neither an ELF kernel with a PVH entry note nor a Linux bzImage (no ELF magic, no \"HdrS\" at offset 0x202)");
        assertOneLineError(Dist.vmm(null, "run", "--kernel", "/no/such/kernel.elf"), "/no/such/kernel.elf cannot be read");
    }

    /**
     * Issue 14: every kind of bad image is one line and status 2, whether the launcher refuses it
     * before the framework starts (wrong magic, larger than RAM) or the loader does when the VM
     * loads it (truncated, protocol too old, an initrd with no room above the kernel).
     */
    @Test
    void badImagesAreOneLineErrorsWithStatus2() throws Exception {
        byte[] elf = Files.readAllBytes(Dist.HOME.resolve("guests/hello.elf"));
        Path truncatedElf = Files.write(dir.resolve("truncated.elf"), java.util.Arrays.copyOf(elf, 100));
        assertOneLineError(Dist.vmm(null, "run", "--kernel", truncatedElf.toString()), "VM demo: guest image " + truncatedElf,
                "truncated");
        byte[] bz = Files.readAllBytes(Path.of("../guests/bin/bootinfo.bzimage"));
        Path truncatedBz = Files.write(dir.resolve("truncated.bzimage"), java.util.Arrays.copyOf(bz, 0x300));
        assertOneLineError(Dist.vmm(null, "run", "--kernel", truncatedBz.toString()), "guest image " + truncatedBz, "truncated");
        byte[] old = bz.clone();
        old[0x206] = 0x09; // boot protocol 2.09
        old[0x207] = 0x02;
        Path oldBz = Files.write(dir.resolve("old.bzimage"), old);
        assertOneLineError(Dist.vmm(null, "run", "--kernel", oldBz.toString()), "boot protocol 2.09 is older than 2.12");
        Path hello = Dist.HOME.resolve("guests/hello.elf");
        Path huge = sparse("huge.initrd", 40L << 20);
        assertOneLineError(Dist.vmm(null, "run", "--kernel", hello.toString(), "--memory", "32M", "--initrd", huge.toString()),
                "initrd " + huge, "more than the guest's RAM");
        Path tight = sparse("tight.initrd", 31L << 20);
        assertOneLineError(Dist.vmm(null, "run", "--kernel", hello.toString(), "--memory", "32M", "--initrd", tight.toString()),
                "initrd " + tight, "does not fit between the kernel's end");
    }

    /** A file of {@code size} bytes that takes no disk space. */
    private Path sparse(String name, long size) throws IOException {
        Path p = dir.resolve(name);
        try (var f = new java.io.RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
        return p;
    }

    @Test
    void statsReportProgress() throws Exception {
        // Long enough for several reports (about 300 M instructions, 0.3-1 s): 400 iterations (30 M)
        // could end before the first report once the engine ran them within 0.2 s.
        Dist.Run r = Dist.vmm(null, "run", "--kernel", Dist.HOME.resolve("guests/workload.elf").toString(), "--cmdline",
                "iterations=4000", "--stats", "0.1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().lines().anyMatch(l -> l.matches("vmm: stats: demo RUNNING, [0-9,]+ instructions, [0-9,]+ exits, 0/16384 pages private")),
                r.err());
    }

    @Test
    void theShellShowsRegistersAndStatsOfARunningGuest() throws Exception {
        // guests/rng waits for its device forever: a guest that is running while the shell looks.
        Path f = Files.writeString(dir.resolve("busy.json"), Files.readString(Dist.DEFAULT_FEATURE)
                .replace("\"kernel\": \"guests/demo.elf\"", "\"kernel\": \"guests/rng.elf\""));
        Dist.Run r = Dist.vmm("vmm:registers demo\nvmm:stats\nvmm:devices demo\nvmm:info demo\nexit 0\n", "shell", "--feature", f.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().matches("(?s).*rip    0000000000[0-9a-f]{6}.*cr0    0000000080000011.*"), r.out());
        assertTrue(r.out().matches("(?s).*demo +RUNNING +[0-9,]+ +[0-9,]+ +0/16384.*"), r.out());
        assertTrue(r.out().contains("uart16550 (io.cloister.devices 0.1.0) PIO[0x3f8-0x400)"), r.out());
        assertTrue(r.out().contains("vcpus    1 of 1 started"), r.out());
        assertFalse(r.err().contains("internal error"), "the shell's exit cleans up once: " + r.err());
    }

    /** Two VMs in one runtime, each with its own backend, memory and console. */
    @Test
    void twoVmsRunSideBySide() throws Exception {
        Path a = dir.resolve("a.txt");
        Path b = dir.resolve("b.txt");
        Path f = Files.writeString(dir.resolve("two.json"), Files.readString(Dist.DEFAULT_FEATURE).replace(
                "\"io.cloister.vm~demo\": { \"name\": \"demo\", \"memory\": \"64M\", \"backend\": \"plain\", \"engine\": \"auto\", \"kernel\": \"guests/demo.elf\" }",
                "\"io.cloister.vm~a\": { \"name\": \"a\", \"memory\": \"32M\", \"backend\": \"pkvm\", \"kernel\": \"guests/demo.elf\", \"console\": \"file:" + a + "\" },"
                        + "\"io.cloister.vm~b\": { \"name\": \"b\", \"memory\": \"16M\", \"backend\": \"tdx\", \"kernel\": \"guests/demo.elf\", \"console\": \"file:" + b + "\" }"));
        Dist.Run r = Dist.vmm(null, "run", "--feature", f.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.readString(a).contains("content after sharing: kept"), Files.readString(a));
        assertTrue(Files.readString(b).contains("content after sharing: destroyed"), Files.readString(b));
        assertTrue(r.err().contains("VM a: guest exited with status 0") && r.err().contains("VM b: guest exited with status 0"), r.err());
    }

    @Test
    void theConsoleCanGoToASocket() throws Exception {
        try (java.net.ServerSocket server = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            var received = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try (java.net.Socket s = server.accept()) {
                    return new String(s.getInputStream().readAllBytes());
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            Dist.Run r = Dist.vmm(null, "run", "--console", "tcp:127.0.0.1:" + server.getLocalPort());
            assertEquals(0, r.code(), r.err());
            assertEquals("", r.out());
            assertTrue(received.get(30, java.util.concurrent.TimeUnit.SECONDS).endsWith("demo done\n"));
        }
    }

    @Test
    void anUnknownBackendIsOneLineError() throws Exception {
        assertOneLineError(Dist.vmm(null, "run", "--backend", "nope"), "backend 'nope', which is not installed",
                "installed: pkvm, plain, sev, snp, tdx");
    }

    @Test
    void tdxRefusesAnSmmLayoutAtCreation() throws Exception {
        Path f = Files.writeString(dir.resolve("smm.json"), Files.readString(Dist.DEFAULT_FEATURE)
                .replace("\"kernel\": \"guests/demo.elf\"", "\"kernel\": \"guests/demo.elf\", \"smm\": true"));
        Dist.Run plain = Dist.vmm(null, "run", "--feature", f.toString());
        assertEquals(0, plain.code(), "plain guests may have SMRAM: " + plain.err());
        Dist.Run tdx = Dist.vmm(null, "run", "--feature", f.toString(), "--backend", "tdx");
        assertEquals(1, tdx.code(), tdx.err());
        assertTrue(tdx.err().contains("backend tdx refuses the SMRAM_ALIAS slot at gpa 0xfeda0000"), tdx.err());
    }

    @Test
    void helpListsCommands() throws Exception {
        Dist.Run r = Dist.vmm(null, "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("run") && r.out().contains("shell") && r.out().contains("--feature"));
    }

    @Test
    void runHasItsOwnHelp() throws Exception {
        Dist.Run r = Dist.vmm(null, "run", "--help");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Usage: vmm run"), r.out());
    }

    @Test
    void unknownRunOptionIsRefused() throws Exception {
        assertOneLineError(Dist.vmm(null, "run", "--warp", "9"), "unknown option --warp");
    }

    @Test
    void featuresAreListed() throws Exception {
        Dist.Run r = Dist.vmm(null, "features");
        assertEquals(0, r.code());
        assertEquals(List.of("default", "vmm-pkvm", "vmm-plain", "vmm-sev", "vmm-snp", "vmm-tdx"), r.out().lines().toList());
    }

    @Test
    void unknownFeatureIsOneLineError() throws Exception {
        assertOneLineError(Dist.vmm(null, "run", "--feature", "no-such-feature"), "no-such-feature", "not found");
    }

    @Test
    void malformedFeatureIsOneLineError() throws Exception {
        Path f = Files.writeString(dir.resolve("bad.json"), "{ \"id\": ");
        assertOneLineError(Dist.vmm(null, "run", "--feature", f.toString()), f.toString(), "malformed");
    }

    @Test
    void missingBundleIsOneLineError() throws Exception {
        Path f = Dist.feature(dir, null, "io.cloister:cloister-nothing:0.0.1");
        assertOneLineError(Dist.vmm(null, "run", "--feature", f.toString()), "io.cloister:cloister-nothing:0.0.1", "not found");
    }

    @Test
    void unresolvableBundleIsOneLineError() throws Exception {
        // The vmm bundle without the api bundle cannot resolve.
        Path f = Dist.feature(dir, null, "io.cloister:cloister-vmm:0.1.0");
        Dist.Run r = Dist.vmm(null, "run", "--feature", f.toString());
        assertOneLineError(r, "io.cloister:cloister-vmm:0.1.0", "cannot be started", "io.cloister.api");
    }

    @Test
    void verboseAddsTheStackTrace() throws Exception {
        Path f = Dist.feature(dir, null, "io.cloister:cloister-vmm:0.1.0");
        Dist.Run r = Dist.vmm(null, "--verbose", "run", "--feature", f.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("\tat "), r.err());
    }

    @Test
    void shellRunsCommandsFromTheConsole() throws Exception {
        // A VM without a guest image keeps running, so the shell can swap its backend.
        Path f = Files.writeString(dir.resolve("idle.json"), Files.readString(Dist.DEFAULT_FEATURE)
                .replace("\"kernel\": \"guests/demo.elf\"", "\"kernel\": \"\""));
        Dist.Run r = Dist.vmm("vmm:vms\nvmm:swap demo tdx\nvmm:swap demo nope\nlb -s io.cloister\nvmm:events demo\nexit 0\n",
                "shell", "--feature", f.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("demo: running on backend tdx"), r.out());
        assertTrue(r.out().matches("(?s).*[0-9:.]+ running on backend plain\n[0-9:.]+ running on backend tdx\n"
                + "[0-9:.]+ switched from backend plain to tdx.*"), r.out());
        assertTrue(r.out().contains("unknown backend 'nope'"), r.out());
        assertTrue(r.out().contains("io.cloister.shell"), r.out());
    }
}
