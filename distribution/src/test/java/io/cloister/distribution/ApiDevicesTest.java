package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PUT and DELETE /cloister/devices/{id} on bin/vmm: the example RNG device bundle joins the running
 * guest (guests/rng sees it appear) and leaves it again, through the API alone.
 */
class ApiDevicesTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void needsCurl() throws Exception {
        ApiTest.needsCurl();
    }

    private static long exits(Path socket) throws Exception {
        var m = java.util.regex.Pattern.compile("\"exits\":(\\d+)").matcher(ApiTest.curl(socket, "GET", "/cloister/vms", null).body());
        assertTrue(m.find());
        return Long.parseLong(m.group(1));
    }

    @Test
    void aDeviceBundleJoinsAndLeavesThroughTheApi() throws Exception {
        Path socket = dir.resolve("fc.sock");
        Path console = dir.resolve("console.txt");
        Process vmm = new ProcessBuilder(Dist.VMM.toString(), "run", "--api-sock", socket.toString())
                .redirectOutput(dir.resolve("out.txt").toFile()).redirectError(dir.resolve("err.txt").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!ApiTest.answers(socket)) {
                assertTrue(vmm.isAlive() && System.nanoTime() < deadline, () -> "no API: " + ApiTest.read(dir.resolve("err.txt")));
                Thread.sleep(5);
            }
            ApiTest.assertAnswer(ApiTest.curl(socket, "PUT", "/cloister/devices/rng", "{\"path_on_host\": \"" + dir.resolve("none.jar")
                    + "\"}"), 400, "not a readable regular file");
            ApiTest.assertAnswer(ApiTest.curl(socket, "DELETE", "/cloister/devices/rng", null), 400, "no device bundle 'rng'");
            ApiTest.assertAnswer(ApiTest.curl(socket, "PUT", "/serial", "{\"serial_out_path\": \"" + console + "\"}"), 204);
            ApiTest.assertAnswer(ApiTest.curl(socket, "PUT", "/boot-source", "{\"kernel_image_path\": \""
                    + Dist.HOME.resolve("guests/rng.elf") + "\"}"), 204);
            ApiTest.assertAnswer(ApiTest.curl(socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
            DeviceHotplugTest.await(console, "rng: absent\n");
            ApiTest.assertAnswer(ApiTest.curl(socket, "PUT", "/cloister/devices/rng", "{\"path_on_host\": \""
                    + DeviceHotplugTest.EXAMPLE + "\"}"), 204);
            DeviceHotplugTest.await(console, "rng: present\n");
            ApiTest.assertAnswer(ApiTest.curl(socket, "PUT", "/cloister/devices/rng", "{\"path_on_host\": \""
                    + DeviceHotplugTest.EXAMPLE + "\"}"), 400, "installed already");
            ApiTest.assertAnswer(ApiTest.curl(socket, "GET", "/cloister/devices", null), 200, "\"id\":\"rng\"", "\"active\":true");
            // Let the guest read numbers while the device is there: each of its rounds is a few port exits.
            long exits = exits(socket);
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (exits(socket) <= exits + 40) {
                assertTrue(System.nanoTime() < until, "the guest does not read the device");
                Thread.sleep(10);
            }
            ApiTest.assertAnswer(ApiTest.curl(socket, "DELETE", "/cloister/devices/rng", null), 204);
            DeviceHotplugTest.await(console, "rng: values vary\n");
            assertTrue(vmm.waitFor(60, TimeUnit.SECONDS), "the guest did not end the process");
            assertEquals(0, vmm.exitValue(), ApiTest.read(dir.resolve("err.txt")));
            assertEquals("rng: absent\nrng: present\nrng: absent\nrng: values vary\n", Files.readString(console));
        } finally {
            vmm.destroyForcibly();
        }
    }
}
