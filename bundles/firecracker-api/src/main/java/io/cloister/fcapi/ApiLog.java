package io.cloister.fcapi;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.Locale;
import java.util.Set;

import jakarta.json.JsonObject;

/**
 * PUT /logger: the API's log (requests, refusals, the VM's start and end) appended as lines to
 * log_path at the level asked. The bundles' own logging stays on SLF4J; this is the log a
 * Firecracker client points at a file or FIFO and reads.
 */
final class ApiLog {
    /** Firecracker's levels, most severe first. */
    enum Level { OFF, ERROR, WARNING, INFO, DEBUG, TRACE }

    private static final Set<String> FIELDS = Set.of("log_path", "level", "show_level", "show_log_origin", "module");

    record Settings(String logPath, Level level, boolean showLevel, boolean showLogOrigin, String module) {
        JsonObject toJson() {
            var b = Json.builder().add("level", level.name().charAt(0) + level.name().substring(1).toLowerCase(Locale.ROOT))
                    .add("show_level", showLevel).add("show_log_origin", showLogOrigin);
            if (logPath != null) {
                b.add("log_path", logPath);
            }
            if (module != null) {
                b.add("module", module);
            }
            return b.build();
        }
    }

    private volatile Settings settings;

    static Settings parse(JsonObject body) {
        Json.Fields f = Json.Fields.of(body, "logger", FIELDS);
        String path = f.string("log_path", null);
        String level = f.oneOf("level", "Info", true, "Off", "Error", "Warning", "Info", "Debug", "Trace");
        Settings s = new Settings(path, Level.valueOf(level.toUpperCase(Locale.ROOT)), f.bool("show_level", false),
                f.bool("show_log_origin", false), f.string("module", null));
        if (path != null) {
            try {
                Files.writeString(Path.of(path), "", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            } catch (IOException | RuntimeException e) {
                throw new Fault("logger: cannot open log_path '" + path + "': " + Json.oneLine(e.toString()));
            }
        }
        return s;
    }

    void configure(Settings s) {
        settings = s;
    }

    Settings settings() {
        return settings;
    }

    void log(Level level, String message) {
        Settings s = settings;
        if (s == null || s.logPath == null || level.compareTo(s.level) > 0 || s.level == Level.OFF) {
            return;
        }
        String line = Instant.now() + " [cloister" + (s.showLevel ? ":" + level : "") + (s.showLogOrigin ? " fcapi" : "") + "] "
                + message + "\n";
        try {
            Files.writeString(Path.of(s.logPath), line, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        } catch (IOException | RuntimeException e) {
            // A log that went away must not fail the request that is being logged.
        }
    }
}
