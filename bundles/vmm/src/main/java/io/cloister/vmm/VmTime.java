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
            armed.forEach(Deadline::schedule);
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

    /** A timer; guarded by the clock's monitor. */
    private final class Deadline implements Timer {
        private final Runnable expiry;
        private long deadline;
        private ScheduledFuture<?> future;

        Deadline(Runnable expiry) {
            this.expiry = expiry;
        }

        @Override
        public void arm(long deadlineNanos) {
            synchronized (VmTime.this) {
                deadline = deadlineNanos;
                armed.add(this);
                unschedule();
                if (pausedAt < 0) {
                    schedule();
                }
            }
        }

        @Override
        public void cancel() {
            synchronized (VmTime.this) {
                armed.remove(this);
                unschedule();
            }
        }

        void schedule() {
            if (!executor.isShutdown()) {
                future = executor.schedule(this::fire, Math.max(0, deadline - nanos()), TimeUnit.NANOSECONDS);
            }
        }

        void unschedule() {
            if (future != null) {
                future.cancel(false);
                future = null;
            }
        }

        private void fire() {
            synchronized (VmTime.this) {
                if (!armed.contains(this) || pausedAt >= 0) {
                    return; // cancelled, or paused (resume schedules it again)
                }
                if (nanos() < deadline) {
                    schedule(); // woken early by the host scheduler
                    return;
                }
                armed.remove(this);
                future = null;
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
