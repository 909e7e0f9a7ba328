package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Firecracker's management API on bin/vmm, driven with curl over the Unix socket as Firecracker's
 * getting-started guide drives Firecracker: configure, start a guest, pause, resume, and the
 * guest's own exit ends the process with its status.
 */
class ApiTest {
    @TempDir
    Path dir;

    record Answer(int status, String body) {
    }

    @BeforeAll
    static void needsCurl() throws Exception {
        boolean curl;
        try {
            curl = new ProcessBuilder("curl", "--version").redirectErrorStream(true).start().waitFor() == 0;
        } catch (IOException e) {
            curl = false;
        }
        Assumptions.assumeTrue(curl, "curl is not installed: the API test drives the socket with curl --unix-socket");
    }

    static Answer curl(Path socket, String method, String path, String body) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("curl", "-sS", "--max-time", "30", "--unix-socket", socket.toString(), "-X", method,
                "-w", "\n%{http_code}", "http://localhost" + path));
        if (body != null) {
            cmd.addAll(List.of("-H", "Content-Type: application/json", "-d", body));
        }
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(40, TimeUnit.SECONDS), "curl did not end");
        int nl = out.lastIndexOf('\n');
        return new Answer(Integer.parseInt(out.substring(nl + 1).strip()), out.substring(0, nl));
    }

    static void assertAnswer(Answer a, int status, String... fragments) {
        assertEquals(status, a.status(), a.body());
        for (String f : fragments) {
            assertTrue(a.body().contains(f), a.body() + " should contain " + f);
        }
    }

    /** Starts bin/vmm with the socket and waits (bounded) until it answers GET /; returns the process. */
    Process startVmm(Path socket, Path out, String... more) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Dist.VMM.toString(), "run", "--api-sock", socket.toString()));
        cmd.addAll(List.of(more));
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(dir.resolve("err.txt").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        // The socket answers once the API serves it (a stale socket file may exist before that).
        while (!answers(socket)) {
            assertTrue(p.isAlive(), () -> "bin/vmm ended before serving: " + read(dir.resolve("err.txt")));
            assertTrue(System.nanoTime() < deadline, "no socket within 60 s");
            Thread.sleep(5);
        }
        assertAnswer(curl(socket, "GET", "/", null), 200, "\"state\":\"Not started\"");
        System.out.printf("ApiTest: process start to the first answer on the socket: %d ms%n", (System.nanoTime() - t0) / 1_000_000);
        return p;
    }

    static boolean answers(Path socket) {
        try (var ch = java.nio.channels.SocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            ch.connect(java.net.UnixDomainSocketAddress.of(socket));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return e.toString();
        }
    }

    @Test
    void gettingStartedSequence() throws Exception {
        Path socket = dir.resolve("fc.sock");
        Path out = dir.resolve("out.txt");
        Process vmm = startVmm(socket, out);
        try {
            assertAnswer(curl(socket, "PUT", "/machine-config", "{\"vcpu_count\": 33, \"mem_size_mib\": 64}"), 400, "vcpu_count");
            assertAnswer(curl(socket, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 0}"), 400, "mem_size_mib");
            assertAnswer(curl(socket, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64"), 400, "malformed JSON");
            assertAnswer(curl(socket, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}"), 204);
            assertAnswer(curl(socket, "PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"is_root_device\": true}"), 400,
                    "missing required field 'path_on_host'");
            assertAnswer(curl(socket, "GET", "/nope", null), 400, "Invalid request method and/or path");
            // The rest of issue 18's error cases, each through the socket with its status and the field named.
            assertAnswer(curl(socket, "PUT", "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 64}"), 400, "vcpu_count");
            assertAnswer(curl(socket, "PUT", "/machine-config", "{\"vcpu_count\": \"2\", \"mem_size_mib\": 64}"), 400,
                    "vcpu_count", "must be an unsigned integer");
            assertAnswer(curl(socket, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"turbo\": true}"), 400,
                    "unknown", "turbo");
            assertAnswer(curl(socket, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 400, "before starting");
            assertAnswer(curl(socket, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), 400, "before starting");
            assertAnswer(curl(socket, "PUT", "/actions", "{\"action_type\": \"Reboot\"}"), 400, "action_type");
            assertAnswer(curl(socket, "PUT", "/logger", "{\"level\": \"Loud\"}"), 400, "level");
            assertAnswer(curl(socket, "PUT", "/boot-source", "{\"kernel_image_path\": \"" + "x".repeat(60_000) + "\"}"), 400,
                    "at most 51200");

            // A kernel the VMM cannot boot: InstanceStart answers with the VM's failure, and the
            // instance stays configurable.
            Path notElf = Files.writeString(dir.resolve("not.elf"), "not an ELF image");
            assertAnswer(curl(socket, "PUT", "/boot-source", "{\"kernel_image_path\": \"" + notElf + "\"}"), 204);
            assertAnswer(curl(socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 400, "did not start");
            assertAnswer(curl(socket, "GET", "/", null), 200, "Not started");

            Path workload = Dist.HOME.resolve("guests/workload.elf");
            assertAnswer(curl(socket, "PUT", "/boot-source", "{\"kernel_image_path\": \"" + workload
                    + "\", \"boot_args\": \"iterations=300\"}"), 204);
            Path metrics = dir.resolve("metrics.json");
            assertAnswer(curl(socket, "PUT", "/metrics", "{\"metrics_path\": \"" + metrics + "\"}"), 204);
            assertAnswer(curl(socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
            assertAnswer(curl(socket, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 204);
            assertAnswer(curl(socket, "GET", "/", null), 200, "\"state\":\"Paused\"");
            assertAnswer(curl(socket, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 204); // idempotent, as Firecracker's
            assertAnswer(curl(socket, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 64}"), 400,
                    "not supported after starting");
            assertAnswer(curl(socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 400, "after starting");
            assertAnswer(curl(socket, "GET", "/cloister/backend", null), 200, "\"backend\":\"plain\"");
            // A live backend switch at a safe point, and a refused one with its reason.
            assertAnswer(curl(socket, "PUT", "/cloister/backend", "{\"backend\": \"pkvm\"}"), 204);
            assertAnswer(curl(socket, "GET", "/cloister/backend", null), 200, "\"backend\":\"pkvm\"");
            assertAnswer(curl(socket, "PUT", "/cloister/backend", "{\"backend\": \"nosuch\"}"), 400, "nosuch");
            assertAnswer(curl(socket, "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}"), 204);
            String line = Files.readAllLines(metrics).getLast();
            assertTrue(line.contains("\"state\":\"PAUSED\"") && line.contains("\"backend\":\"pkvm\"")
                    && line.contains("\"instructions\":"), line);
            // Exits by kind, every kind named; the paused guest's counts add up to its exits, and
            // the workload's console output made port I/O exits.
            var kinds = java.util.regex.Pattern.compile("\"exits_by_kind\":\\{([^}]*)\\}").matcher(line);
            assertTrue(kinds.find(), line);
            long sum = 0;
            java.util.Map<String, Long> byKind = new java.util.LinkedHashMap<>();
            for (String kv : kinds.group(1).split(",")) {
                String[] p = kv.split(":");
                byKind.put(p[0].replace("\"", ""), Long.parseLong(p[1]));
                sum += Long.parseLong(p[1]);
            }
            assertEquals(List.of("io", "mmio", "hypercall", "coco", "memory_fault", "halt", "shutdown", "failure", "interrupted"),
                    List.copyOf(byKind.keySet()), line);
            assertTrue(byKind.get("io") > 0, line);
            var exits = java.util.regex.Pattern.compile("\"exits\":(\\d+)").matcher(line);
            assertTrue(exits.find(), line);
            assertEquals(Long.parseLong(exits.group(1)), sum, line);
            assertTrue(line.contains("\"device_accesses\":" + (byKind.get("io") + byKind.get("mmio")) + ","), line);
            // One swap (to pkvm; the refused one is none), and the memory counters.
            assertTrue(line.contains("\"swaps\":1,") && line.contains("\"conversions\":") && line.contains("\"punched_pages\":"), line);
            assertAnswer(curl(socket, "GET", "/cloister/memory", null), 200, "\"private_pages\":", "\"conversions\":",
                    "\"punched_pages\":", "\"allocated_pages\":");
            // Ctrl-Alt-Del typed into a guest that does not read its keyboard: the i8042 takes the
            // keys twice (8 bytes each), then refuses them whole.
            assertAnswer(curl(socket, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), 204);
            assertAnswer(curl(socket, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), 204);
            assertAnswer(curl(socket, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), 400, "SendCtrlAltDel",
                    "buffer is full");
            assertAnswer(curl(socket, "GET", "/cloister/vms", null), 200, "\"name\":\"anonymous-instance\"", "\"state\":\"PAUSED\"");
            assertAnswer(curl(socket, "GET", "/cloister/devices", null), 200, "\"devices\":[");
            assertAnswer(curl(socket, "GET", "/vm/config", null), 200, "\"mem_size_mib\":64", "iterations=300");
            assertAnswer(curl(socket, "PATCH", "/vm", "{\"state\": \"Resumed\"}"), 204);

            assertTrue(vmm.waitFor(60, TimeUnit.SECONDS), "the guest did not end the process");
            assertEquals(0, vmm.exitValue(), read(dir.resolve("err.txt")));
            assertTrue(read(out).contains("workload: 300 iterations, checksum 0x"), read(out));
            assertFalse(Files.exists(socket), "the socket is removed when the process ends");
        } finally {
            vmm.destroyForcibly();
        }
    }

    @Test
    void aStaleSocketIsReplacedAndTheCommandLineIsCheckedFirst() throws Exception {
        Path socket = dir.resolve("stale.sock");
        // A socket file nobody serves, as a killed VMM leaves it.
        try (var ch = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            ch.bind(java.net.UnixDomainSocketAddress.of(socket));
        }
        assertTrue(Files.exists(socket));
        Process vmm = startVmm(socket, dir.resolve("out.txt"));
        try {
            // The live socket is now refused to a second VMM, before its framework starts.
            Dist.Run second = Dist.vmm(null, "run", "--api-sock", socket.toString());
            CommandLineTest.assertOneLineError(second, "in use");
        } finally {
            vmm.destroy();
            vmm.waitFor(30, TimeUnit.SECONDS);
        }
        Path file = Files.writeString(dir.resolve("plain-file"), "x");
        CommandLineTest.assertOneLineError(Dist.vmm(null, "run", "--api-sock", file.toString()), "not a socket");
        CommandLineTest.assertOneLineError(Dist.vmm(null, "run", "--api-sock", dir.resolve("no/such/dir/s").toString()),
                "does not exist");
        CommandLineTest.assertOneLineError(Dist.vmm(null, "run", "--api-sock", dir.resolve("s").toString(), "--memory", "64M"),
                "--memory");
        CommandLineTest.assertOneLineError(Dist.vmm(null, "run", "--config-file", dir.resolve("none.json").toString()),
                "not a readable file");
    }

    /** --timeout holds with the API too: no InstanceStart by the deadline ends the run with 124. */
    @Test
    void theTimeoutEndsARunThatNeverStarts() throws Exception {
        Path socket = dir.resolve("t.sock");
        // 8 s: a loaded machine may take most of it to start the framework, and the watchdog (which
        // would end the run without this message) waits 10 s more.
        Dist.Run r = Dist.vmm(null, "run", "--api-sock", socket.toString(), "--timeout", "8");
        assertEquals(124, r.code(), r.err());
        assertTrue(r.err().contains("no VM was started"), r.err());
        assertFalse(Files.exists(socket));
    }

    @Test
    void aConfigFileBootsWithoutTheSocket() throws Exception {
        Path config = Files.writeString(dir.resolve("vm.json"), """
                {"boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0"},
                 "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}, "drives": [], "network-interfaces": []}
                """.formatted(Dist.HOME.resolve("guests/hello.elf")));
        Dist.Run r = Dist.vmm(null, "run", "--config-file", config.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Hello from a Cloister guest!"), r.out());

        Path bad = Files.writeString(dir.resolve("bad.json"), "{\"boot-source\": {\"kernel_image_path\": \"/nonexistent.elf\"}}");
        CommandLineTest.assertOneLineError(Dist.vmm(null, "run", "--config-file", bad.toString()), "kernel_image_path");
    }
}
