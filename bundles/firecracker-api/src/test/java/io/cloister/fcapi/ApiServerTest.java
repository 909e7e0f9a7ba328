package io.cloister.fcapi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.StringRequestContent;
import org.eclipse.jetty.io.Transport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server on a real Unix socket, driven by Jetty's HTTP client over its Unix-domain transport. */
class ApiServerTest {
    @TempDir
    Path dir;

    private final HttpClient client = new HttpClient();
    private final Routes routes = new Routes(new Instance(() -> null, (c, d) -> {
        throw new Fault("no VMM in this test");
    }, null, null));

    @BeforeEach
    void startClient() throws Exception {
        client.start();
    }

    @AfterEach
    void stopClient() throws Exception {
        client.stop();
    }

    private ContentResponse send(Path socket, String method, String path, String body) throws Exception {
        var request = client.newRequest("http://localhost" + path).transport(new Transport.TCPUnix(socket)).method(method)
                .timeout(30, TimeUnit.SECONDS);
        if (body != null) {
            request.body(new StringRequestContent("application/json", body));
        }
        return request.send();
    }

    @Test
    void answersOverTheSocket() throws Exception {
        Path socket = dir.resolve("api.sock");
        try (ApiServer server = ApiServer.start(socket, routes)) {
            ContentResponse r = send(socket, "GET", "/", null);
            assertEquals(200, r.getStatus());
            assertEquals("application/json", r.getMediaType());
            assertTrue(r.getContentAsString().contains("\"state\":\"Not started\""), r.getContentAsString());
            r = send(socket, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 64}");
            assertEquals(204, r.getStatus());
            assertEquals(0, r.getContent().length);
            r = send(socket, "PUT", "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 64}");
            assertEquals(400, r.getStatus());
            assertTrue(r.getContentAsString().startsWith("{\"fault_message\":\"machine-config: vcpu_count 0"), r.getContentAsString());
            r = send(socket, "POST", "/actions", "{}");
            assertEquals(400, r.getStatus());
            assertTrue(r.getContentAsString().contains("Invalid request method and/or path: POST /actions"));
        }
        assertFalse(Files.exists(socket), "closing removes the socket");
    }

    @Test
    void anOversizedBodyIsRefusedUnread() throws Exception {
        Path socket = dir.resolve("api.sock");
        try (ApiServer server = ApiServer.start(socket, routes)) {
            String big = "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"x\": \"" + "a".repeat(Routes.MAX_BODY) + "\"}";
            ContentResponse r = send(socket, "PUT", "/machine-config", big);
            assertEquals(400, r.getStatus());
            assertTrue(r.getContentAsString().contains("at most " + Routes.MAX_BODY), r.getContentAsString());
            assertEquals(200, send(socket, "GET", "/", null).getStatus(), "the server still answers");
        }
    }

    @Test
    void aStaleSocketIsReplacedALiveOneAndOtherFilesAreRefused() throws Exception {
        Path stale = dir.resolve("stale.sock");
        try (ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.bind(UnixDomainSocketAddress.of(stale));
        }
        try (ApiServer server = ApiServer.start(stale, routes)) {
            assertEquals(200, send(stale, "GET", "/version", null).getStatus());
            IOException live = assertThrows(IOException.class, () -> ApiServer.start(stale, routes));
            assertTrue(live.getMessage().contains("in use"), live.getMessage());
        }
        Path file = Files.writeString(dir.resolve("file"), "x");
        IOException other = assertThrows(IOException.class, () -> ApiServer.start(file, routes));
        assertTrue(other.getMessage().contains("not a socket"), other.getMessage());
        assertTrue(Files.exists(file), "a file that is no socket is left alone");
    }

    /** Several clients at once: every request is answered, and the counters add up. */
    @Test
    void concurrentClientsAreAllAnswered() throws Exception {
        Path socket = dir.resolve("api.sock");
        int clients = 8;
        int each = 50;
        try (ApiServer server = ApiServer.start(socket, routes)) {
            ExecutorService pool = Executors.newFixedThreadPool(clients);
            try {
                List<Future<Integer>> done = new ArrayList<>();
                for (int c = 0; c < clients; c++) {
                    int vcpus = c + 1;
                    done.add(pool.submit(() -> {
                        int ok = 0;
                        for (int i = 0; i < each; i++) {
                            ContentResponse r = i % 2 == 0 ? send(socket, "GET", "/", null)
                                    : send(socket, "PATCH", "/machine-config", "{\"vcpu_count\": " + vcpus + "}");
                            ok += r.getStatus() == (i % 2 == 0 ? 200 : 204) ? 1 : 0;
                        }
                        return ok;
                    }));
                }
                for (Future<Integer> f : done) {
                    assertEquals(each, f.get(120, TimeUnit.SECONDS));
                }
            } finally {
                pool.shutdownNow();
            }
            assertEquals((long) clients * each, routes.instance().metrics.requests.get());
            assertEquals(0, routes.instance().metrics.errors.get());
            int vcpus = routes.instance().machineConfig().getInt("vcpu_count");
            assertTrue(vcpus >= 1 && vcpus <= clients, "one client's value, whole: " + vcpus);
        }
    }

    /** Round-trip latency over the socket, printed (the benchmark; nothing timed is asserted). */
    @Test
    void roundTripLatency() throws Exception {
        Path socket = dir.resolve("api.sock");
        try (ApiServer server = ApiServer.start(socket, routes)) {
            for (String method : List.of("GET", "PATCH")) {
                long[] nanos = new long[1000];
                for (int i = -200; i < nanos.length; i++) { // 200 to warm up
                    long t0 = System.nanoTime();
                    ContentResponse r = method.equals("GET") ? send(socket, "GET", "/", null)
                            : send(socket, "PATCH", "/machine-config", "{\"vcpu_count\": 2}");
                    long t = System.nanoTime() - t0;
                    assertEquals(method.equals("GET") ? 200 : 204, r.getStatus());
                    if (i >= 0) {
                        nanos[i] = t;
                    }
                }
                java.util.Arrays.sort(nanos);
                System.out.printf("ApiServerTest: %s round trip p50 %d us, p99 %d us (Jetty client, Unix socket)%n",
                        method.equals("GET") ? "GET /" : "PATCH /machine-config", nanos[500] / 1000, nanos[990] / 1000);
            }
        }
    }

    /** A request in flight when the server stops (the run ended under it) still gets its answer. */
    @Test
    void aStopWaitsForTheRequestInFlight() throws Exception {
        java.util.concurrent.CountDownLatch entered = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        Routes slow = new Routes(new Instance(() -> null, (c, d) -> {
            entered.countDown();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            throw new Fault("refused after the stop began");
        }, null, null));
        Path kernel = Files.writeString(dir.resolve("k.elf"), "x");
        Path socket = dir.resolve("api.sock");
        ApiServer server = ApiServer.start(socket, slow);
        assertEquals(204, send(socket, "PUT", "/boot-source", "{\"kernel_image_path\": \"" + kernel + "\"}").getStatus());
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            Future<ContentResponse> start = pool.submit(() -> send(socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"));
            assertTrue(entered.await(30, TimeUnit.SECONDS));
            Future<?> closing = pool.submit(server::close);
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!server.stopping()) {
                assertTrue(System.nanoTime() < until, "the server does not stop");
                Thread.sleep(1);
            }
            release.countDown();
            ContentResponse r = start.get(30, TimeUnit.SECONDS);
            assertEquals(400, r.getStatus());
            assertTrue(r.getContentAsString().contains("refused after the stop began"), r.getContentAsString());
            closing.get(30, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
            server.close();
        }
    }
}
