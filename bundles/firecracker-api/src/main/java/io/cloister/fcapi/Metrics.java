package io.cloister.fcapi;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;

import io.cloister.api.vm.VirtualMachine;

/**
 * PUT /metrics: JSON lines appended to metrics_path, as Firecracker writes them, every
 * {@link #PERIOD_MS} and on FlushMetrics: the API's request counts and the VM's counters
 * (instructions, exits by kind, device accesses, swaps, conversions, punched pages).
 */
final class Metrics implements AutoCloseable {
    static final long PERIOD_MS = 60_000;
    private static final Set<String> FIELDS = Set.of("metrics_path");

    final AtomicLong requests = new AtomicLong();
    final AtomicLong errors = new AtomicLong();
    private volatile Path path;
    private volatile Thread timer;
    private Supplier<VirtualMachine> vm = () -> null;

    static String parse(JsonObject body) {
        Json.Fields f = Json.Fields.of(body, "metrics", FIELDS);
        return f.requiredString("metrics_path");
    }

    /** Starts the periodic lines; once only (Firecracker refuses a second PUT /metrics). */
    synchronized void configure(String metricsPath, Supplier<VirtualMachine> vm) {
        if (path != null) {
            throw new Fault("metrics: already configured (metrics_path " + path + ")");
        }
        Path p = Path.of(metricsPath);
        try {
            Files.writeString(p, "", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException | RuntimeException e) {
            throw new Fault("metrics: cannot open metrics_path '" + metricsPath + "': " + Json.oneLine(e.toString()));
        }
        this.vm = vm;
        path = p;
        timer = Thread.ofPlatform().daemon().name("fcapi-metrics").start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    Thread.sleep(PERIOD_MS);
                } catch (InterruptedException e) {
                    return;
                }
                flush();
            }
        });
    }

    String path() {
        Path p = path;
        return p == null ? null : p.toString();
    }

    /** Writes one line now (FlushMetrics); refused if no metrics_path was set, as in Firecracker. */
    synchronized void flush() {
        if (path == null) {
            throw new Fault("FlushMetrics: the metrics system is not configured (PUT /metrics first)");
        }
        JsonObjectBuilder line = Json.builder().add("utc_timestamp_ms", System.currentTimeMillis())
                .add("api_server", Json.builder().add("requests", requests.get()).add("errors", errors.get()));
        VirtualMachine v = vm.get();
        if (v != null) {
            java.util.Map<String, Long> kinds = v.exitsByKind();
            JsonObjectBuilder vm = Json.builder().add("name", v.name()).add("state", v.state().name()).add("backend", v.backend())
                    .add("engine", v.engine()).add("vcpus", v.startedVcpus()).add("instructions", v.instructions())
                    .add("exits", v.exits()).add("exits_by_kind", byKind(kinds))
                    // Device accesses: the port and MMIO exits, each one access of a device on the bus.
                    .add("device_accesses", kinds.getOrDefault("io", 0L) + kinds.getOrDefault("mmio", 0L))
                    .add("private_pages", v.privatePages()).add("total_pages", v.totalPages());
            v.counters().forEach(vm::add);
            line.add("vm", vm);
        }
        try {
            Files.writeString(path, Json.write(line.build()) + "\n", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        } catch (IOException | RuntimeException e) {
            throw new Fault(500, "metrics: cannot write " + path + ": " + Json.oneLine(e.toString()));
        }
    }

    static JsonObjectBuilder byKind(java.util.Map<String, Long> counts) {
        JsonObjectBuilder b = Json.builder();
        counts.forEach(b::add);
        return b;
    }

    @Override
    public void close() {
        Thread t = timer;
        if (t != null) {
            t.interrupt();
        }
    }
}
