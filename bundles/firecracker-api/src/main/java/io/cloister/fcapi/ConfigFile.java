package io.cloister.fcapi;

import java.util.Set;

import jakarta.json.JsonArray;
import jakarta.json.JsonObject;
import jakarta.json.JsonValue;

/**
 * Firecracker's --config-file: one JSON object whose keys are the API's resources. Each is
 * applied as its PUT would be, in Firecracker's order, then the instance starts. Resources
 * Cloister does not have are refused by name when the file asks for one, not skipped.
 */
final class ConfigFile {
    private static final Set<String> KEYS = Set.of("boot-source", "machine-config", "drives", "logger", "metrics", "serial",
            "network-interfaces", "vsock", "balloon", "entropy", "mmds-config", "cpu-config", "pmem", "memory-hotplug");

    private ConfigFile() {
    }

    static void apply(Instance instance, String text) {
        JsonObject o = Json.object(text);
        Json.Fields.of(o, "the config file", KEYS);
        if (!o.containsKey("boot-source")) {
            throw new Fault("the config file has no \"boot-source\"");
        }
        if (present(o, "logger")) {
            instance.putLogger(object(o, "logger"));
        }
        if (present(o, "metrics")) {
            instance.putMetrics(object(o, "metrics"));
        }
        if (present(o, "machine-config")) {
            instance.putMachineConfig(object(o, "machine-config"), false);
        }
        instance.putBootSource(object(o, "boot-source"));
        if (present(o, "serial")) {
            instance.putSerial(object(o, "serial"));
        }
        if (present(o, "drives")) {
            if (!(o.get("drives") instanceof JsonArray drives)) {
                throw new Fault("the config file's \"drives\" must be an array");
            }
            for (JsonValue d : drives) {
                if (!(d instanceof JsonObject drive)) {
                    throw new Fault("the config file's \"drives\" must hold objects");
                }
                // The id the path of PUT /drives/{id} would carry is the body's own here.
                String id = drive.get("drive_id") instanceof jakarta.json.JsonString s ? s.getString() : "";
                instance.putDrive(id, drive);
            }
        }
        if (present(o, "entropy")) {
            instance.putEntropy(object(o, "entropy"));
        }
        for (String key : KEYS) {
            if (!Set.of("boot-source", "machine-config", "drives", "entropy", "logger", "metrics", "serial").contains(key)
                    && present(o, key)) {
                throw new Fault("the config file's \"" + key + "\": Cloister has no such device or feature yet");
            }
        }
        instance.action(Json.builder().add("action_type", "InstanceStart").build());
    }

    /** Present and not null or an empty array (tools write "network-interfaces": [] for none). */
    private static boolean present(JsonObject o, String key) {
        JsonValue v = o.get(key);
        return v != null && v.getValueType() != JsonValue.ValueType.NULL && !(v instanceof JsonArray a && a.isEmpty());
    }

    private static JsonObject object(JsonObject o, String key) {
        if (o.get(key) instanceof JsonObject value) {
            return value;
        }
        throw new Fault("the config file's \"" + key + "\" must be an object");
    }
}
