package io.cloister.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --api-sock and --config-file are checked before the framework starts. */
class ApiOptionsTest {
    @TempDir
    Path dir;

    private static String refused(Map<String, String> options) {
        LaunchException e = assertThrows(LaunchException.class, () -> ApiOptions.take(new LinkedHashMap<>(options)));
        assertEquals(LaunchException.CONFIG, e.exitCode());
        return e.getMessage();
    }

    @Test
    void socketPaths() throws Exception {
        assertTrue(refused(Map.of("api-sock", dir.resolve("missing/s").toString())).contains("does not exist"));
        Path file = Files.writeString(dir.resolve("f"), "x");
        assertTrue(refused(Map.of("api-sock", file.toString())).contains("not a socket"));
        assertTrue(refused(Map.of("api-sock", dir.resolve("x".repeat(120)).toString())).contains("longer"));
        Path sock = dir.resolve("s");
        try (ServerSocketChannel live = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            live.bind(UnixDomainSocketAddress.of(sock));
            assertTrue(refused(Map.of("api-sock", sock.toString())).contains("in use"));
        }
        // Closed: the file stays, nobody answers — stale, accepted (the bundle replaces it).
        assertTrue(Files.exists(sock));
        Map<String, String> options = new LinkedHashMap<>(Map.of("api-sock", sock.toString(), "backend", "sev", "timeout", "5"));
        Map<String, String> taken = ApiOptions.take(options);
        assertEquals(Map.of("api-sock", sock.toString(), "backend", "sev"), taken);
        assertEquals(Map.of("timeout", "5"), options, "the run's own options stay");
    }

    @Test
    void vmOptionsAndConfigFiles() throws Exception {
        assertTrue(refused(Map.of("api-sock", dir.resolve("s").toString(), "memory", "64M")).contains("--memory"));
        assertTrue(refused(Map.of("config-file", dir.resolve("none.json").toString())).contains("not a readable file"));
        assertTrue(refused(Map.of("config-file", dir.toString())).contains("not a readable file"));
        assertFalse(ApiOptions.requested(Map.of("memory", "64M")));
    }

    @Test
    void theFeaturesVmsAreLeftOut() {
        Deployment d = new Deployment("f", dir, List.of(), List.of(
                new Deployment.Configuration("io.cloister.vm~demo", "io.cloister.vm", "demo", Map.of("name", "demo")),
                new Deployment.Configuration("other", null, null, Map.of("a", 1))), Map.of());
        assertEquals(List.of("other"), ApiOptions.withoutVms(d).configurations().stream().map(Deployment.Configuration::pid).toList());
    }
}
