package io.cloister.fcapi;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;

import io.cloister.internal.vmconfig.VmSettings;

/**
 * Firecracker's boot-source. Paths are made absolute against this process's working directory,
 * as Firecracker opens them, because the VMM resolves a relative kernel path against its home.
 */
record BootSource(String kernelImagePath, String bootArgs, String initrdPath) {
    private static final Set<String> FIELDS = Set.of("kernel_image_path", "boot_args", "initrd_path");

    static BootSource parse(JsonObject body) {
        Json.Fields f = Json.Fields.of(body, "boot-source", FIELDS);
        String kernel = f.requiredString("kernel_image_path");
        String args = f.string("boot_args", null);
        String initrd = f.string("initrd_path", null);
        if (args != null && args.length() > VmSettings.MAX_CMDLINE) {
            throw new Fault("boot-source: boot_args is " + args.length() + " characters, more than " + VmSettings.MAX_CMDLINE);
        }
        if (initrd != null && !VmSettings.KEYS.contains("initrd")) {
            throw new Fault("boot-source: initrd_path is not supported yet (Cloister's VM configuration has no initrd)");
        }
        return new BootSource(file("kernel_image_path", kernel), args, initrd == null ? null : file("initrd_path", initrd));
    }

    /** Firecracker refuses a boot source whose files it cannot open; so does this, naming the field. */
    private static String file(String field, String path) {
        Path p;
        try {
            p = Path.of(path).toAbsolutePath().normalize();
        } catch (RuntimeException e) {
            throw new Fault("boot-source: " + field + " '" + path + "' is not a path");
        }
        if (!Files.isRegularFile(p) || !Files.isReadable(p)) {
            throw new Fault("boot-source: " + field + " '" + path + "' is not a readable regular file");
        }
        return p.toString();
    }

    JsonObject toJson() {
        JsonObjectBuilder b = Json.builder().add("kernel_image_path", kernelImagePath);
        if (bootArgs != null) {
            b.add("boot_args", bootArgs);
        }
        if (initrdPath != null) {
            b.add("initrd_path", initrdPath);
        }
        return b.build();
    }
}
