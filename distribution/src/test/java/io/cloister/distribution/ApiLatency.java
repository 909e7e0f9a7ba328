package io.cloister.distribution;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;

/**
 * Benchmark of the Firecracker-compatible API (benchmarks/api-latency): process start to the
 * first answer on the socket (wall time, and the whole process's CPU time then, from
 * /proc/PID/stat), and the round-trip latency of GET / and PATCH /vm (p50, p99, max) over one
 * keep-alive connection while a guest runs. Jetty's HTTP client over its Unix-domain transport.
 */
public final class ApiLatency {
    private ApiLatency() {
    }

    public static void main(String[] args) throws Exception {
        Path vmm = Path.of(System.getProperty("cloister.home", "distribution/target/cloister")).resolve("bin/vmm").toAbsolutePath();
        Path guest = Path.of(System.getProperty("cloister.home", "distribution/target/cloister")).resolve("guests/workload.elf")
                .toAbsolutePath();
        int starts = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 2000;
        Path dir = Files.createTempDirectory("api-latency");
        long ticks = clockTicks();
        HttpClient client = new HttpClient();
        client.start();
        try {
            long[] wall = new long[starts];
            long[] cpu = new long[starts];
            Process last = null;
            Path socket = null;
            for (int i = 0; i < starts; i++) {
                socket = dir.resolve("s" + i + ".sock");
                long t0 = System.nanoTime();
                Process p = new ProcessBuilder(vmm.toString(), "run", "--api-sock", socket.toString())
                        .redirectOutput(dir.resolve("out" + i).toFile()).redirectError(dir.resolve("err" + i).toFile()).start();
                while (true) {
                    if (!p.isAlive()) {
                        throw new IllegalStateException("bin/vmm ended: " + Files.readString(dir.resolve("err" + i)));
                    }
                    try {
                        if (ApiRequest.send(client, socket, "GET", "/", null).getStatus() == 200) {
                            break;
                        }
                    } catch (java.util.concurrent.ExecutionException e) {
                        Thread.sleep(1); // not listening yet
                    }
                }
                wall[i] = System.nanoTime() - t0;
                cpu[i] = cpuNanos(p.pid(), ticks);
                if (i < starts - 1) {
                    p.destroy();
                    p.waitFor(30, TimeUnit.SECONDS);
                } else {
                    last = p;
                }
            }
            System.out.printf("process start to the first answer on the socket (%d starts): median %d ms wall, %d ms CPU of the"
                    + " whole process (min %d ms wall)%n", starts, median(wall) / 1_000_000, median(cpu) / 1_000_000,
                    Arrays.stream(wall).min().getAsLong() / 1_000_000);

            check(ApiRequest.send(client, socket, "PUT", "/boot-source", "{\"kernel_image_path\": \"" + guest
                    + "\", \"boot_args\": \"iterations=1000000000000\"}"), 204);
            check(ApiRequest.send(client, socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
            for (int i = 0; i < 500; i++) { // warm-up: JIT of both sides
                ApiRequest.send(client, socket, "GET", "/", null);
                ApiRequest.send(client, socket, "PATCH", "/vm", "{\"state\": \"" + (i % 2 == 0 ? "Paused" : "Resumed") + "\"}");
            }
            long[] get = new long[rounds];
            long[] patch = new long[rounds];
            for (int i = 0; i < rounds; i++) {
                long t = System.nanoTime();
                check(ApiRequest.send(client, socket, "GET", "/", null), 200);
                get[i] = System.nanoTime() - t;
                t = System.nanoTime();
                check(ApiRequest.send(client, socket, "PATCH", "/vm", "{\"state\": \"" + (i % 2 == 0 ? "Paused" : "Resumed") + "\"}"), 204);
                patch[i] = System.nanoTime() - t;
            }
            report("GET /", get);
            report("PATCH /vm (Paused/Resumed, a running guest)", patch);
            last.destroy();
            last.waitFor(30, TimeUnit.SECONDS);
        } finally {
            client.stop();
        }
    }

    private static void check(ContentResponse r, int status) {
        if (r.getStatus() != status) {
            throw new IllegalStateException(r.getStatus() + " " + r.getContentAsString());
        }
    }

    private static void report(String what, long[] nanos) {
        long[] s = nanos.clone();
        Arrays.sort(s);
        System.out.printf("%-45s n=%d  p50 %5d us  p99 %5d us  max %6d us%n", what, s.length, s[s.length / 2] / 1000,
                s[s.length * 99 / 100] / 1000, s[s.length - 1] / 1000);
    }

    private static long median(long[] v) {
        long[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    /** utime + stime of a process and its threads, from /proc/PID/stat. */
    private static long cpuNanos(long pid, long ticks) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 1_000_000_000L / ticks;
    }

    private static long clockTicks() {
        try {
            Process p = new ProcessBuilder("getconf", "CLK_TCK").start();
            String out = new String(p.getInputStream().readAllBytes()).strip();
            p.waitFor();
            return Long.parseLong(out);
        } catch (IOException | InterruptedException | NumberFormatException e) {
            return 100;
        }
    }
}
