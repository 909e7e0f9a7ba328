package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * 8 clients sending 200 requests each to bin/vmm's API while its guest runs, is paused and
 * resumed and swaps backends: every request is answered (no 500, no time-out, no deadlock with the
 * safe points), and the VM runs on afterwards. Jetty's HTTP client over its Unix-domain transport.
 */
class ApiConcurrencyTest {
    @TempDir
    Path dir;

    @Test
    void eightClientsWhileTheGuestRunsAndSwaps() throws Exception {
        Path socket = dir.resolve("fc.sock");
        Process vmm = new ProcessBuilder(Dist.VMM.toString(), "run", "--api-sock", socket.toString())
                .redirectOutput(dir.resolve("out.txt").toFile()).redirectError(dir.resolve("err.txt").toFile()).start();
        HttpClient client = new HttpClient();
        client.start();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!ApiTest.answers(socket)) {
                assertTrue(vmm.isAlive() && System.nanoTime() < deadline, () -> "no API: " + ApiTest.read(dir.resolve("err.txt")));
                Thread.sleep(5);
            }
            Path workload = Dist.HOME.resolve("guests/workload.elf");
            assertEquals(204, ApiRequest.send(client, socket, "PUT", "/boot-source", "{\"kernel_image_path\": \"" + workload
                    + "\", \"boot_args\": \"iterations=1000000000000\"}").getStatus());
            assertEquals(204, ApiRequest.send(client, socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}").getStatus());

            Map<String, List<Long>> latency = new ConcurrentHashMap<>();
            AtomicInteger refused = new AtomicInteger();
            List<Future<Integer>> clients = new ArrayList<>();
            for (int c = 0; c < 8; c++) {
                int id = c;
                clients.add(pool.submit(() -> {
                    int answered = 0;
                    for (int i = 0; i < 200; i++) {
                        String[] req = switch ((i + id) % 6) {
                            case 0 -> new String[] {"GET", "/", null};
                            case 1 -> new String[] {"GET", "/cloister/vms", null};
                            case 2 -> new String[] {"PATCH", "/vm", "{\"state\": \"Paused\"}"};
                            case 3 -> new String[] {"PATCH", "/vm", "{\"state\": \"Resumed\"}"};
                            case 4 -> new String[] {"PUT", "/cloister/backend", "{\"backend\": \"" + (i % 4 < 2 ? "pkvm" : "plain") + "\"}"};
                            default -> new String[] {"PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}"};
                        };
                        long t0 = System.nanoTime();
                        ContentResponse r = ApiRequest.send(client, socket, req[0], req[1], req[2]);
                        latency.computeIfAbsent(req[0] + " " + req[1], k -> java.util.Collections.synchronizedList(new ArrayList<>()))
                                .add(System.nanoTime() - t0);
                        int s = r.getStatus();
                        boolean preBootRefused = req[1].equals("/machine-config") && s == 400;
                        boolean stateRefused = s == 400 && (req[1].equals("/vm") || req[1].equals("/cloister/backend"));
                        assertTrue(s == 200 || s == 204 || preBootRefused || stateRefused, req[0] + " " + req[1] + " -> " + s + " "
                                + r.getContentAsString());
                        if (stateRefused) {
                            refused.incrementAndGet();
                        }
                        answered++;
                    }
                    return answered;
                }));
            }
            for (Future<Integer> f : clients) {
                assertEquals(200, f.get(300, TimeUnit.SECONDS));
            }
            // Consistent afterwards: resumed, it runs on (its instruction count grows).
            assertEquals(204, ApiRequest.send(client, socket, "PATCH", "/vm", "{\"state\": \"Resumed\"}").getStatus());
            assertTrue(ApiRequest.send(client, socket, "GET", "/", null).getContentAsString().contains("\"state\":\"Running\""));
            long before = instructions(client, socket);
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (before >= 0 && instructions(client, socket) <= before) { // -1: an engine that cannot count (KVM)
                assertTrue(System.nanoTime() < until, "the guest does not run after the storm");
                Thread.sleep(10);
            }
            latency.forEach((k, v) -> {
                long[] n = v.stream().mapToLong(Long::longValue).sorted().toArray();
                System.out.printf("ApiConcurrencyTest: %-24s n=%d p50 %d us p99 %d us%n", k, n.length, n[n.length / 2] / 1000,
                        n[n.length * 99 / 100] / 1000);
            });
            System.out.println("ApiConcurrencyTest: state changes refused (e.g. resume while a swap holds the VM): " + refused.get());
        } finally {
            pool.shutdownNow();
            client.stop();
            vmm.destroy();
            if (!vmm.waitFor(30, TimeUnit.SECONDS)) {
                vmm.destroyForcibly();
            }
        }
    }

    private static long instructions(HttpClient client, Path socket) throws Exception {
        String vms = ApiRequest.send(client, socket, "GET", "/cloister/vms", null).getContentAsString();
        var m = java.util.regex.Pattern.compile("\"instructions\":(-?\\d+)").matcher(vms);
        assertTrue(m.find(), vms);
        return Long.parseLong(m.group(1));
    }
}
