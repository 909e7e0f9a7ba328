package io.cloister.cpu.x86.apic;

/**
 * The local APIC timer's counting (Intel SDM vol. 3, 11.5.4): divide configuration, initial and
 * current count in one-shot and periodic mode, and the TSC deadline. Pure arithmetic on VM time in
 * nanoseconds; the owning {@link LocalApic} holds its lock around every call, arms the VM clock's
 * timer at {@link #deadline()} and delivers the LVT vector when {@link #expire} says so.
 *
 * <p>The APIC bus runs at 1 GHz (as in KVM and QEMU): one count per nanosecond before the divider.
 */
final class ApicTimer {
    static final int MODE_ONE_SHOT = 0;
    static final int MODE_PERIODIC = 1;
    static final int MODE_TSC_DEADLINE = 2;
    /**
     * The shortest period a periodic timer runs at (KVM's default min_timer_period_us is 200): a
     * guest asking for a period of a few nanoseconds must not flood the VM's timer thread.
     */
    static final long MIN_PERIOD_NS = 100_000;

    private final long tscHz;
    private int mode;
    private int divideConfig;
    private long initialCount;
    /** VM time the count last (re)started at, for the current count. */
    private long start;
    /** VM time of the next expiry, or -1 when the timer is not running. */
    private long deadline = -1;
    private long tscDeadline;

    ApicTimer(long tscHz) {
        this.tscHz = tscHz;
    }

    /** The divisor encoded by the divide configuration register (bits 0, 1 and 3): 2, 4, ... 128, 1. */
    static int divisor(int config) {
        int v = (config & 3) | ((config >> 1) & 4);
        return 1 << ((v + 1) & 7);
    }

    long deadline() {
        return deadline;
    }

    int divideConfig() {
        return divideConfig;
    }

    long initialCount() {
        return initialCount;
    }

    long tscDeadline() {
        return mode == MODE_TSC_DEADLINE ? tscDeadline : 0;
    }

    private long period() {
        long p = initialCount * divisor(divideConfig);
        return mode == MODE_PERIODIC ? Math.max(p, MIN_PERIOD_NS) : p;
    }

    /** The current count register: counting down from the initial count, reloaded in periodic mode. */
    long currentCount(long now) {
        if (mode == MODE_TSC_DEADLINE || initialCount == 0 || deadline < 0 && mode == MODE_ONE_SHOT) {
            return 0;
        }
        long ticks = Math.max(0, now - start) / divisor(divideConfig);
        if (mode == MODE_PERIODIC) {
            long periodTicks = Math.max(initialCount, MIN_PERIOD_NS / divisor(divideConfig));
            return Math.max(0, initialCount - ticks % periodTicks);
        }
        return ticks >= initialCount ? 0 : initialCount - ticks;
    }

    void writeInitialCount(long value, long now) {
        if (mode == MODE_TSC_DEADLINE) {
            return; // SDM 11.5.4.1: ignored in TSC-deadline mode
        }
        initialCount = value & 0xffffffffL;
        start = now;
        deadline = initialCount == 0 ? -1 : now + period();
    }

    /** A new divisor keeps the current count and continues counting down from it at the new rate. */
    void writeDivideConfig(int value, long now) {
        long current = currentCount(now);
        divideConfig = value & 0xb;
        if (deadline >= 0 && mode != MODE_TSC_DEADLINE && initialCount != 0) {
            start = now - (initialCount - current) * divisor(divideConfig);
            deadline = now + current * divisor(divideConfig);
        }
    }

    /** The LVT timer's mode field (bits 18:17); a change of mode stops the timer (as KVM does). */
    void setMode(int newMode, long now) {
        if (newMode != mode) {
            mode = newMode;
            initialCount = 0;
            tscDeadline = 0;
            deadline = -1;
        }
    }

    /** IA32_TSC_DEADLINE: arms at that TSC value (0 disarms); ignored outside TSC-deadline mode. */
    void writeTscDeadline(long tsc) {
        if (mode != MODE_TSC_DEADLINE) {
            return;
        }
        tscDeadline = tsc;
        deadline = tsc == 0 ? -1 : tscToNanos(tsc, tscHz);
    }

    /**
     * The clock's timer fired at VM time {@code now}: true if the timer expired (the LVT vector is
     * due), with the next deadline set for periodic mode; false for a stale or early firing.
     */
    boolean expire(long now) {
        if (deadline < 0 || now < deadline) {
            return false;
        }
        switch (mode) {
            case MODE_PERIODIC -> {
                long p = period();
                long next = deadline + p;
                if (next <= now) { // behind (a paused host thread): skip the periods missed, fire once
                    next = now + p - (now - deadline) % p;
                }
                start = next - p;
                deadline = next;
            }
            case MODE_TSC_DEADLINE -> {
                tscDeadline = 0;
                deadline = -1;
            }
            default -> deadline = -1;
        }
        return true;
    }

    /** Stops counting and forgets the counts (INIT, APIC disable). */
    void reset() {
        mode = MODE_ONE_SHOT;
        divideConfig = 0;
        initialCount = 0;
        tscDeadline = 0;
        deadline = -1;
    }

    /** The TSC at VM time {@code nanos}: {@code nanos * hz / 1e9} without overflow for hz below 9.2 GHz. */
    static long nanosToTsc(long nanos, long hz) {
        return nanos / 1_000_000_000L * hz + nanos % 1_000_000_000L * hz / 1_000_000_000L;
    }

    /** The VM time at which the TSC reaches {@code tsc} (unsigned); Long.MAX_VALUE beyond reach. */
    static long tscToNanos(long tsc, long hz) {
        long whole = Long.divideUnsigned(tsc, hz);
        if (whole >= Long.MAX_VALUE / 1_000_000_000L) {
            return Long.MAX_VALUE;
        }
        long rest = Long.remainderUnsigned(tsc, hz);
        // Rounded up: the deadline is the first nanosecond at which the TSC is at least tsc.
        return whole * 1_000_000_000L + (rest * 1_000_000_000L + hz - 1) / hz;
    }
}
