package io.cloister.cpu.x86;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * A guest-side profile for finding where a guest's time goes (cloister.x86.ripSamples=FILE): a
 * thread reads the vCPU's rip every half millisecond and counts each value; close() writes
 * "rip count" lines, commonest first, to FILE.N for vCPU N. In a compiled block rip stays at the
 * block's start until it ends, so counts gather at block entries. A racy read of the field is
 * enough for sampling; the vCPU thread never waits for the sampler.
 */
final class RipSampler {
    private final X86Vcpu vcpu;
    private final Path file;
    private final Map<Long, long[]> counts = new HashMap<>(); // the sampler thread's own until it ends
    private final Thread thread;

    RipSampler(X86Vcpu vcpu, Path file) {
        this.vcpu = vcpu;
        this.file = file;
        this.thread = Thread.ofPlatform().daemon().name("rip-sampler-" + vcpu.index).start(this::sample);
    }

    private void sample() {
        while (!Thread.currentThread().isInterrupted()) {
            counts.computeIfAbsent(vcpu.rip, k -> new long[1])[0]++;
            try {
                Thread.sleep(0, 500_000);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Stops sampling and writes the counts. */
    void close() throws IOException, InterruptedException {
        thread.interrupt();
        thread.join();
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(file))) {
            counts.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0]))
                    .forEach(e -> w.printf("%x %d%n", e.getKey(), e.getValue()[0]));
        }
    }
}
