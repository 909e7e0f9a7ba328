package io.cloister.fcapi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import jakarta.json.JsonObject;

import io.cloister.internal.vmconfig.VmSettings;

/** Request validation before any VM exists: Firecracker's status codes and fault messages naming the field. */
class RoutesTest {
    @TempDir
    Path dir;

    /** The devices the last InstanceStart asked for. */
    private List<Instance.Device> startedWith;
    private final Instance instance = new Instance(() -> null, (c, d) -> {
        startedWith = d;
        throw new Fault("no VMM in this test");
    }, null, null);
    private final Routes routes = new Routes(instance);

    private Reply call(String method, String path, String body) {
        return routes.handle(method, path, body);
    }

    private static String fault(Reply r) {
        return ((JsonObject) r.body()).getString("fault_message");
    }

    private void assertFault(Reply r, String... fragments) {
        assertEquals(400, r.status(), String.valueOf(r.body()));
        for (String f : fragments) {
            assertTrue(fault(r).contains(f), fault(r) + " should contain " + f);
        }
    }

    @Test
    void infoBeforeStart() {
        Reply r = call("GET", "/", null);
        assertEquals(200, r.status());
        assertEquals("Not started", ((JsonObject) r.body()).getString("state"));
        assertEquals("anonymous-instance", ((JsonObject) r.body()).getString("id"));
        assertEquals(200, call("GET", "/version", null).status());
    }

    @Test
    void machineConfigDefaultsAndPut() {
        JsonObject def = (JsonObject) call("GET", "/machine-config", null).body();
        assertEquals(1, def.getInt("vcpu_count"));
        assertEquals(128, def.getInt("mem_size_mib"));
        assertEquals(204, call("PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 256}").status());
        JsonObject now = (JsonObject) call("GET", "/machine-config", null).body();
        assertEquals(2, now.getInt("vcpu_count"));
        assertEquals(256, now.getInt("mem_size_mib"));
    }

    @Test
    void outOfRangeValuesNameTheField() {
        assertFault(call("PUT", "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 64}"), "vcpu_count", "0");
        assertFault(call("PUT", "/machine-config", "{\"vcpu_count\": 33, \"mem_size_mib\": 64}"), "vcpu_count", "33");
        assertFault(call("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 0}"), "mem_size_mib");
        assertFault(call("PUT", "/machine-config", "{\"vcpu_count\": -1, \"mem_size_mib\": 64}"), "vcpu_count", "unsigned");
        assertFault(call("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 99999999999999999999}"), "mem_size_mib");
    }

    @Test
    void wrongTypesUnknownFieldsMissingFieldsAndMalformedJson() {
        assertFault(call("PUT", "/machine-config", "{\"vcpu_count\": \"2\", \"mem_size_mib\": 64}"), "vcpu_count", "\"2\"");
        assertFault(call("PUT", "/machine-config", "{\"vcpu_count\": 1.5, \"mem_size_mib\": 64}"), "vcpu_count");
        assertFault(call("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"smt\": 1}"), "smt");
        assertFault(call("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"turbo\": true}"), "unknown", "turbo");
        assertFault(call("PUT", "/machine-config", "{\"mem_size_mib\": 64}"), "missing", "vcpu_count");
        assertFault(call("PUT", "/machine-config", "{\"vcpu_count\": 1, "), "malformed JSON");
        assertFault(call("PUT", "/machine-config", "[1, 2]"), "not an object");
        assertFault(call("PUT", "/machine-config", ""), "no body");
    }

    @Test
    void aBadFieldRefusesTheWholeUpdate() {
        assertEquals(204, call("PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 256}").status());
        assertFault(call("PATCH", "/machine-config", "{\"vcpu_count\": 4, \"mem_size_mib\": 0}"), "mem_size_mib");
        JsonObject now = (JsonObject) call("GET", "/machine-config", null).body();
        assertEquals(2, now.getInt("vcpu_count"));
        assertEquals(256, now.getInt("mem_size_mib"));
        assertEquals(204, call("PATCH", "/machine-config", "{\"vcpu_count\": 4}").status());
        now = (JsonObject) call("GET", "/machine-config", null).body();
        assertEquals(4, now.getInt("vcpu_count"));
        assertEquals(256, now.getInt("mem_size_mib"), "PATCH keeps the fields it does not name");
        // PUT resets what it does not name: smt etc. to defaults, and needs both required fields.
        assertFault(call("PUT", "/machine-config", "{\"vcpu_count\": 4}"), "mem_size_mib");
    }

    @Test
    void bootSourceChecksItsFiles() throws Exception {
        assertFault(call("PUT", "/boot-source", "{}"), "kernel_image_path");
        assertFault(call("PUT", "/boot-source", "{\"kernel_image_path\": \"" + dir.resolve("none") + "\"}"), "kernel_image_path",
                "not a readable regular file");
        Path kernel = Files.writeString(dir.resolve("k.elf"), "x");
        assertEquals(204, call("PUT", "/boot-source", "{\"kernel_image_path\": \"" + kernel + "\", \"boot_args\": \"a=1\"}").status());
        Reply initrd = call("PUT", "/boot-source", "{\"kernel_image_path\": \"" + kernel + "\", \"initrd_path\": \"" + kernel + "\"}");
        if (VmSettings.KEYS.contains("initrd")) {
            assertEquals(204, initrd.status());
        } else {
            assertFault(initrd, "initrd_path", "not supported yet");
        }
        JsonObject config = (JsonObject) call("GET", "/vm/config", null).body();
        assertEquals(kernel.toString(), config.getJsonObject("boot-source").getString("kernel_image_path"));
    }

    static String drive(String id, Path path, boolean root, String more) {
        return "{\"drive_id\": \"" + id + "\", \"path_on_host\": \"" + path + "\", \"is_root_device\": " + root + more + "}";
    }

    /** PUT /drives/{id}: each field checked as Firecracker checks it, the image opened as the device will open it. */
    @Test
    void drivesAreCheckedFieldByField() throws Exception {
        Path img = Files.write(dir.resolve("rootfs.ext4"), new byte[4096]);
        assertFault(call("PUT", "/drives/rootfs", "{"), "malformed JSON");
        assertFault(call("PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"" + img + "\"}"),
                "missing required field 'is_root_device'");
        assertFault(call("PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"is_root_device\": true}"),
                "missing required field 'path_on_host'");
        assertFault(call("PUT", "/drives/other", drive("rootfs", img, true, "")), "drive_id 'rootfs'", "('other')");
        assertFault(call("PUT", "/drives/a-b", drive("a-b", img, true, "")), "drive_id 'a-b' must be");
        assertFault(call("PUT", "/drives/rootfs", drive("rootfs", img, true, ", \"cache_type\": \"None\"")), "cache_type",
                "Unsafe, Writeback");
        assertFault(call("PUT", "/drives/rootfs", drive("rootfs", img, true, ", \"is_read_only\": \"yes\"")), "is_read_only",
                "true or false");
        assertFault(call("PUT", "/drives/rootfs", drive("rootfs", img, true, ", \"rate_limiter\": {}")), "rate_limiter",
                "not supported");
        assertFault(call("PUT", "/drives/rootfs", drive("rootfs", img, true, ", \"io_engine\": \"Async\"")), "io_engine");
        assertFault(call("PUT", "/drives/rootfs", drive("rootfs", img, true, ", \"bogus\": 1")), "unknown field 'bogus'");
        assertFault(call("PUT", "/drives/rootfs", drive("rootfs", dir.resolve("none.ext4"), true, "")), "path_on_host",
                "does not exist");
        assertFault(call("PUT", "/drives/rootfs", drive("rootfs", dir, true, "")), "path_on_host", "not a regular file");
        assertFault(call("PUT", "/drives/rootfs", drive("rootfs", Files.write(dir.resolve("short"), new byte[10]), true, "")),
                "path_on_host", "less than one 512-byte sector");
        assertEquals(List.of(), instance.virtioDevices(), "a refused drive leaves nothing behind");

        assertEquals(204, call("PUT", "/drives/data", drive("data", img, false, ", \"is_read_only\": true, \"cache_type\": "
                + "\"Writeback\"")).status());
        assertEquals(204, call("PUT", "/drives/rootfs", drive("rootfs", img, true, "")).status());
        assertFault(call("PUT", "/drives/second", drive("second", img, true, "")), "drive 'rootfs' is the root device already");
        assertEquals(204, call("PUT", "/drives/rootfs", drive("rootfs", img, true, ", \"is_read_only\": false")).status(),
                "a drive may be put again before start");
        assertFault(call("PUT", "/entropy", "{\"rate_limiter\": {\"bandwidth\": {}}}"), "entropy", "rate_limiter");
        assertFault(call("PUT", "/entropy", "{\"bogus\": 1}"), "unknown field 'bogus' in entropy");
        assertEquals(204, call("PUT", "/entropy", "{}").status());
        assertFault(call("PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"" + img + "\"}"),
                "not supported before starting");

        JsonObject config = (JsonObject) call("GET", "/vm/config", null).body();
        assertEquals(2, config.getJsonArray("drives").size());
        JsonObject data = config.getJsonArray("drives").getJsonObject(0);
        assertEquals("data", data.getString("drive_id"));
        assertTrue(data.getBoolean("is_read_only"));
        assertEquals("Writeback", data.getString("cache_type"));
        assertEquals(img.toString(), data.getString("path_on_host"));
        assertTrue(config.get("entropy") instanceof JsonObject, config.toString());

        // InstanceStart writes the devices first: the root drive in slot 0 (/dev/vda, as Firecracker orders it), then the others, then entropy.
        List<Instance.Device> devices = instance.virtioDevices();
        assertEquals(List.of("io.cloister.virtio.blk", "io.cloister.virtio.blk", "io.cloister.virtio.rng"),
                devices.stream().map(Instance.Device::factoryPid).toList());
        assertEquals(List.of("anonymous-instance-rootfs", "anonymous-instance-data", "anonymous-instance-entropy"),
                devices.stream().map(Instance.Device::name).toList());
        assertEquals(java.util.Map.of("vm", "anonymous-instance", "path", img.toString(), "readOnly", false, "root", true, "cache",
                "Unsafe", "id", "rootfs", "slot", 0), devices.get(0).values());
        assertEquals(1, devices.get(1).values().get("slot"));
        assertEquals(true, devices.get(1).values().get("readOnly"));
        assertEquals(java.util.Map.of("vm", "anonymous-instance", "slot", 2), devices.get(2).values());
    }

    @Test
    void aVmHasEightVirtioSlots() throws Exception {
        Path img = Files.write(dir.resolve("d.img"), new byte[4096]);
        for (int i = 0; i < 8; i++) {
            assertEquals(204, call("PUT", "/drives/d" + i, drive("d" + i, img, false, "")).status());
        }
        assertFault(call("PUT", "/drives/d8", drive("d8", img, false, "")), "8 virtio-mmio slots");
        assertFault(call("PUT", "/entropy", "{}"), "8 virtio-mmio slots");
        assertEquals(204, call("PUT", "/drives/d7", drive("d7", img, true, "")).status(), "replacing a drive takes no slot");
    }

    @Test
    void unknownPathsAndMethods() {
        assertFault(call("GET", "/nothing", null), "Invalid request method and/or path: GET /nothing");
        assertFault(call("DELETE", "/machine-config", null), "DELETE /machine-config");
        assertFault(call("GET", "/actions", null), "GET /actions");
        assertFault(call("GET", "/drives/x", null), "GET /drives/x");
    }

    @Test
    void postBootCallsBeforeStart() {
        assertFault(call("PATCH", "/vm", "{\"state\": \"Paused\"}"), "before starting");
        assertFault(call("PATCH", "/vm", "{\"state\": \"Sleeping\"}"), "state", "Paused, Resumed");
        assertFault(call("PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), "before starting");
        assertFault(call("PUT", "/actions", "{\"action_type\": \"Reboot\"}"), "action_type");
        assertFault(call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), "no boot source");
        JsonObject devices = (JsonObject) call("GET", "/cloister/devices", null).body();
        assertEquals(0, devices.getJsonArray("devices").size());
        assertFault(call("PUT", "/cloister/devices/../x", "{\"path_on_host\": \"/x.jar\"}"), "Invalid request");
        assertFault(call("PUT", "/cloister/devices/a b", "{\"path_on_host\": \"/x.jar\"}"), "not a device id");
        assertFault(call("PUT", "/cloister/devices/rng", "{\"path\": \"/x.jar\"}"), "unknown field 'path'");
        assertFault(call("PATCH", "/cloister/devices/rng", "{}"), "PATCH /cloister/devices/rng");
    }

    @Test
    void metricsAreWrittenOnFlushAndConfiguredOnce() throws Exception {
        assertFault(call("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}"), "not configured");
        Path metrics = dir.resolve("metrics.json");
        assertEquals(204, call("PUT", "/metrics", "{\"metrics_path\": \"" + metrics + "\"}").status());
        assertFault(call("PUT", "/metrics", "{\"metrics_path\": \"" + metrics + "\"}"), "already configured");
        assertEquals(204, call("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}").status());
        var lines = Files.readAllLines(metrics);
        assertEquals(1, lines.size(), lines.toString());
        JsonObject line = Json.object(lines.get(0));
        // Every request so far is counted, the failed ones as errors too (this flush is the 4th).
        assertEquals(4, line.getJsonObject("api_server").getInt("requests"));
        assertEquals(2, line.getJsonObject("api_server").getInt("errors"));
        routes.instance().metrics.close();
    }

    @Test
    void loggerLevelsAreCaseInsensitiveAndTheLogIsWritten() throws Exception {
        Path log = dir.resolve("api.log");
        assertFault(call("PUT", "/logger", "{\"log_path\": \"" + log + "\", \"level\": \"Loud\"}"), "level");
        assertEquals(204, call("PUT", "/logger", "{\"log_path\": \"" + log + "\", \"level\": \"debug\", \"show_level\": true}").status());
        call("GET", "/nothing", null);
        String text = Files.readString(log);
        assertTrue(text.contains("GET /nothing -> 400"), text);
        assertTrue(text.contains("WARNING"), text);
    }

    @Test
    void serialAndBackendBeforeStart() {
        assertEquals(204, call("PUT", "/serial", "{\"serial_out_path\": \"" + dir.resolve("serial.out") + "\"}").status());
        assertFault(call("PUT", "/serial", "{\"serial_out_path\": 5}"), "serial_out_path");
        assertEquals("plain", ((JsonObject) call("GET", "/cloister/backend", null).body()).getString("backend"));
        assertEquals(204, call("PUT", "/cloister/backend", "{\"backend\": \"sev\"}").status());
        assertEquals("sev", ((JsonObject) call("GET", "/cloister/backend", null).body()).getString("backend"));
        assertFault(call("PUT", "/cloister/backend", "{\"backend\": \"../x\"}"), "not a backend name");
        assertNull(routes.instance().vm());
    }

    @Test
    void aConfigFileIsCheckedAsTheApiChecksIt() throws Exception {
        Instance instance = routes.instance();
        Fault f = org.junit.jupiter.api.Assertions.assertThrows(Fault.class,
                () -> ConfigFile.apply(instance, "{\"machine-config\": {\"vcpu_count\": 0, \"mem_size_mib\": 64}, \"boot-source\": {}}"));
        assertTrue(f.getMessage().contains("vcpu_count"), f.getMessage());
        f = org.junit.jupiter.api.Assertions.assertThrows(Fault.class, () -> ConfigFile.apply(instance, "{\"vsock\": {}}"));
        assertTrue(f.getMessage().contains("boot-source"), f.getMessage());
        f = org.junit.jupiter.api.Assertions.assertThrows(Fault.class, () -> ConfigFile.apply(instance, "{\"nonsense\": 1}"));
        assertTrue(f.getMessage().contains("nonsense"), f.getMessage());
        Path kernel = Files.writeString(dir.resolve("k.elf"), "x");
        f = org.junit.jupiter.api.Assertions.assertThrows(Fault.class, () -> ConfigFile.apply(instance, "{\"boot-source\": "
                + "{\"kernel_image_path\": \"" + kernel + "\"}, \"drives\": [{\"drive_id\": \"rootfs\"}]}"));
        assertTrue(f.getMessage().contains("missing required field 'is_root_device'"), f.getMessage());
        // drives and entropy of a config file become the devices InstanceStart writes before the VM.
        Path img = Files.write(dir.resolve("cf.img"), new byte[4096]);
        f = org.junit.jupiter.api.Assertions.assertThrows(Fault.class, () -> ConfigFile.apply(instance, "{\"boot-source\": "
                + "{\"kernel_image_path\": \"" + kernel + "\"}, \"drives\": [" + drive("rootfs", img, true, "") + "], \"entropy\": {}}"));
        assertTrue(f.getMessage().contains("no VMM in this test"), f.getMessage());
        assertEquals(List.of("anonymous-instance-rootfs", "anonymous-instance-entropy"), startedWith.stream()
                .map(Instance.Device::name).toList());
    }

    /** A VMM that throws where it should not: 500 with Firecracker's body, and the API keeps answering. */
    @Test
    void anUnexpectedExceptionIsA500NotALostConnection() {
        Routes broken = new Routes(new Instance(() -> {
            throw new IllegalStateException("registry gone");
        }, (c, d) -> null, null, null));
        Reply r = broken.handle("GET", "/cloister/vms", null);
        assertEquals(500, r.status());
        assertTrue(fault(r).contains("internal error") && fault(r).contains("registry gone"), fault(r));
        assertEquals(200, broken.handle("GET", "/", null).status());
    }
}
