package io.cloister.fcapi;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import jakarta.json.JsonObject;
import jakarta.json.JsonValue;

/**
 * Firecracker's drive (PUT /drives/{drive_id}): a virtio-blk device on a raw image file. The
 * image is opened here as the device will open it (read-only or read-write), so a drive the VM
 * could not use is refused when it is put, naming the field; what Cloister does not have
 * (rate limiters, partuuid, vhost-user sockets, the Async io_engine) is refused by name too.
 */
record Drive(String id, String path, boolean root, boolean readOnly, String cache) {
    private static final Set<String> FIELDS = Set.of("drive_id", "path_on_host", "is_root_device", "is_read_only", "cache_type",
            "partuuid", "rate_limiter", "io_engine", "socket");
    /** Firecracker's ids: alphanumeric and '_', at most 64 characters. */
    private static final String ID = "[A-Za-z0-9_]{1,64}";

    static Drive parse(String pathId, JsonObject body) {
        Json.Fields f = Json.Fields.of(body, "drives", FIELDS);
        String id = f.requiredString("drive_id");
        if (!id.equals(pathId)) {
            throw new Fault("drives: drive_id '" + id + "' is not the drive of the path ('" + pathId + "')");
        }
        if (!id.matches(ID)) {
            throw new Fault("drives: drive_id '" + id + "' must be 1 to 64 letters, digits or '_'");
        }
        for (String unsupported : new String[] {"partuuid", "rate_limiter", "socket"}) {
            if (f.has(unsupported)) {
                throw new Fault("drives: " + unsupported + " is not supported by Cloister");
            }
        }
        f.oneOf("io_engine", "Sync", false, "Sync");
        boolean root = f.bool("is_root_device", false);
        if (!f.has("is_root_device")) {
            throw new Fault("drives: missing required field 'is_root_device'");
        }
        boolean ro = f.bool("is_read_only", false);
        String cache = f.oneOf("cache_type", "Unsafe", false, "Unsafe", "Writeback");
        String path = f.requiredString("path_on_host");
        return new Drive(id, image(path, ro), root, ro, cache);
    }

    /** The image as an absolute path, opened once as the device will open it. */
    private static String image(String path, boolean ro) {
        Path p;
        try {
            p = Path.of(path).toAbsolutePath().normalize();
        } catch (RuntimeException e) {
            throw new Fault("drives: path_on_host '" + path + "' is not a path");
        }
        if (Files.isDirectory(p) || (Files.exists(p) && !Files.isRegularFile(p))) {
            throw new Fault("drives: path_on_host '" + path + "' is not a regular file");
        }
        try (FileChannel ch = ro ? FileChannel.open(p, StandardOpenOption.READ)
                : FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            if (ch.size() < 512) {
                throw new Fault("drives: path_on_host '" + path + "' holds " + ch.size() + " bytes, less than one 512-byte sector");
            }
        } catch (NoSuchFileException e) {
            throw new Fault("drives: path_on_host '" + path + "' does not exist");
        } catch (AccessDeniedException e) {
            throw new Fault("drives: path_on_host '" + path + "' cannot be opened for " + (ro ? "reading" : "reading and writing"
                    + " (is_read_only is false)") + ": permission denied");
        } catch (IOException e) {
            throw new Fault("drives: path_on_host '" + path + "' cannot be opened: " + Json.oneLine(e.toString()));
        }
        return p.toString();
    }

    /** The virtio bundle's configuration of this drive for VM {@code vm} in {@code slot}. */
    Map<String, Object> configuration(String vm, int slot) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("vm", vm);
        c.put("path", path);
        c.put("readOnly", readOnly);
        c.put("root", root);
        c.put("cache", cache);
        c.put("id", id);
        c.put("slot", slot);
        return c;
    }

    JsonObject toJson() {
        return Json.builder().add("drive_id", id).add("partuuid", JsonValue.NULL).add("is_root_device", root)
                .add("cache_type", cache).add("is_read_only", readOnly).add("path_on_host", path).add("rate_limiter", JsonValue.NULL)
                .add("io_engine", "Sync").add("socket", JsonValue.NULL).build();
    }
}
