package io.cloister.vmm;

import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.device.VmClock;

/**
 * A VM's one clock: host monotonic time since the VM started, minus the time it spent paused.
 * Timers keep their deadlines in VM time; while the VM is paused none fires, and on resume each
 * is scheduled again for what is left. Expiries run on the VM's one timer thread while holding
 * the bus lock, so to a device they look like any other access.
 *
 * Lock order: the bus lock, then this object's monitor (an expiry or a device access may arm a
 * timer; pause and resume never take the bus lock).
 */
final class VmTime implements VmTimeline {
    private static final Logger LOG = LoggerFactory.getLogger(VmTime.class);
    private final Object busLock;
    private final String vmName;
    private final ScheduledThreadPoolExecutor executor;
    private final long origin = System.nanoTime();
    /** Host time the VM was paused at, or -1 while it runs. */
    private long pausedAt = -1;
    private long pausedTotal;
    private final Set<Deadline> armed = new HashSet<>();

    VmTime(String vmName, Object busLock) {
        this.vmName = vmName;
        this.busLock = busLock;
        this.executor = new ScheduledThreadPoolExecutor(1, r -> Thread.ofPlatform().daemon().name("timers-" + vmName).unstarted(r));
        executor.setRemoveOnCancelPolicy(true);
    }

    @Override
    public synchronized long nanos() {
        return (pausedAt >= 0 ? pausedAt : System.nanoTime()) - origin - pausedTotal;
    }

    @Override
    public synchronized void pause() {
        if (pausedAt < 0) {
            pausedAt = System.nanoTime();
            armed.forEach(Deadline::unschedule);
        }
    }

    @Override
    public synchronized void resume() {
        if (pausedAt >= 0) {
            pausedTotal += System.nanoTime() - pausedAt;
            pausedAt = -1;
            armed.forEach(d -> {
                d.unschedule(); // a wake-up left by a cancel before the pause
                d.schedule();
            });
        }
    }

    @Override
    public Timer timer(Runnable expiry) {
        return new Deadline(expiry);
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }

    /**
     * A timer; guarded by the clock's monitor. A guest re-arms its timer often (Linux writes the TSC
     * deadline at every tick and idle entry, mostly to a later time), so a wake-up already scheduled
     * at or before the new deadline is kept: it finds the later deadline and sleeps again. Only an
     * earlier deadline (or none scheduled) costs a new one; a cancel leaves the wake-up to find the
     * timer unarmed.
     */
    private final class Deadline implements Timer {
        private final Runnable expiry;
        private long deadline;
        private ScheduledFuture<?> future;
        /** The deadline the scheduled wake-up was set for. */
        private long wakeAt;
        /** Counts schedules: a wake-up that a later one replaced does nothing. */
        private long generation;

        Deadline(Runnable expiry) {
            this.expiry = expiry;
        }

        @Override
        public void arm(long deadlineNanos) {
            synchronized (VmTime.this) {
                deadline = deadlineNanos;
                armed.add(this);
                if (pausedAt < 0 && (future == null || wakeAt > deadlineNanos)) {
                    unschedule();
                    schedule();
                }
            }
        }

        @Override
        public void cancel() {
            synchronized (VmTime.this) {
                armed.remove(this);
            }
        }

        void schedule() {
            if (!executor.isShutdown()) {
                long g = ++generation;
                wakeAt = deadline;
                future = executor.schedule(() -> fire(g), Math.max(0, deadline - nanos()), TimeUnit.NANOSECONDS);
            }
        }

        void unschedule() {
            generation++;
            if (future != null) {
                future.cancel(false);
                future = null;
            }
        }

        private void fire(long g) {
            synchronized (VmTime.this) {
                if (g != generation) {
                    return; // replaced by a later schedule, or unscheduled
                }
                future = null;
                if (!armed.contains(this) || pausedAt >= 0) {
                    return; // cancelled, or paused (resume schedules it again)
                }
                if (nanos() < deadline) {
                    schedule(); // re-armed later, or woken early by the host scheduler
                    return;
                }
                armed.remove(this);
            }
            synchronized (busLock) {
                try {
                    expiry.run();
                } catch (RuntimeException e) {
                    LOG.error("VM {}: a device timer failed: {}", vmName, e.toString());
                }
            }
        }
    }
}
