package io.cloister.distribution;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * benchmarks/swap-latency: how long a VM stays paused for a backend swap, against the baseline of
 * a bare pause/resume at the same safe point, idle and under a conversion storm, in one run.
 */
public final class SwapLatency {
    private SwapLatency() {
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        Path dir = Files.createTempDirectory("swap-latency");
        try (SwapStorm storm = new SwapStorm(dir, "sev")) {
            System.out.printf("VM of %d pages, %d rounds per case, JDK %s, %d cpus%n", SwapStorm.PAGES, rounds,
                    Runtime.version(), Runtime.getRuntime().availableProcessors());
            measure(storm, rounds, "idle");
            storm.startStorm();
            measure(storm, rounds, "storm (" + SwapStorm.THREADS + " converting threads)");
            storm.stopStorm();
            if (!storm.mismatches().isEmpty()) {
                throw new AssertionError("pages differ from the model after the run");
            }
        }
    }

    private static void measure(SwapStorm storm, int rounds, String load) throws Exception {
        long[] pauseResume = new long[rounds];
        for (int i = 0; i < rounds; i++) {
            long t0 = System.nanoTime();
            storm.vm.pause();
            storm.vm.resume();
            pauseResume[i] = System.nanoTime() - t0;
        }
        int before = storm.pauses().length;
        for (int i = 0; i < rounds; i++) {
            String next = SwapStorm.BACKENDS.get((SwapStorm.BACKENDS.indexOf(storm.backend()) + 1) % SwapStorm.BACKENDS.size());
            storm.vm.switchBackend(next);
        }
        long[] all = storm.pauses();
        long[] switches = Arrays.copyOfRange(all, before, all.length);
        before = all.length;
        for (int i = 0; i < rounds / 4; i++) {
            storm.bundle("io.cloister.backend." + storm.backend()).update();
        }
        all = storm.pauses();
        long[] updates = Arrays.copyOfRange(all, before, all.length);
        System.out.printf("%-34s baseline pause+resume   %s%n", load, SwapStorm.percentiles(pauseResume));
        System.out.printf("%-34s switch sev/snp/tdx      %s%n", load, SwapStorm.percentiles(switches));
        System.out.printf("%-34s policy bundle update    %s%n", load, SwapStorm.percentiles(updates));
    }
}
