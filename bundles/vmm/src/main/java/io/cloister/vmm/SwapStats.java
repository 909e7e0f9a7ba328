package io.cloister.vmm;

import java.util.Arrays;

/** How long a VM stayed paused for backend swaps: the cost of a hot swap as the guest sees it. */
final class SwapStats {
    private long pausedAt;
    private long[] nanos = new long[16];
    private int count;

    synchronized void pausing() {
        pausedAt = System.nanoTime();
    }

    synchronized void resumed() {
        if (pausedAt == 0) {
            return;
        }
        if (count == nanos.length) {
            nanos = Arrays.copyOf(nanos, count * 2);
        }
        nanos[count++] = System.nanoTime() - pausedAt;
        pausedAt = 0;
    }

    /** Paused durations in nanoseconds, oldest first. */
    synchronized long[] pauses() {
        return Arrays.copyOf(nanos, count);
    }
}
