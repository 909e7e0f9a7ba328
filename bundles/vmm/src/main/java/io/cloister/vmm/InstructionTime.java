package io.cloister.vmm;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.LongSupplier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.cpu.InstructionClock;

/**
 * Deterministic time (issue 14; QEMU's {@code -icount shift=N,sleep=off}): VM time is
 * {@code (retired + skipped) << shift} nanoseconds, where {@code retired} counts the instructions
 * the one vCPU has retired and {@code skipped} the instructions' worth of time jumped over while it
 * was halted with nothing to do. Timers fire on the vCPU's thread when its count reaches their
 * deadline ({@link #reached}), in deadline order, under the bus lock as VmTime's timer thread would
 * run them; so the same guest sees the same times and takes its interrupts at the same instructions
 * in every run. Pausing needs nothing: a paused vCPU retires nothing.
 *
 * Lock order as in VmTime: the bus lock, then this object's monitor (an expiry may arm a timer);
 * {@link #reached} collects what is due under the monitor and runs it after releasing it.
 */
final class InstructionTime implements VmTimeline, InstructionClock {
    private static final Logger LOG = LoggerFactory.getLogger(InstructionTime.class);
    /** Longest shift: 2^10 ns (about a microsecond) per instruction, as QEMU allows. */
    static final int MAX_SHIFT = 10;
    private final Object busLock;
    private final String vmName;
    private final int shift;
    /** The vCPU's retired count; zero until the vCPU exists. */
    private volatile LongSupplier retired = () -> 0;
    /** Written only on the vCPU thread (under the monitor), read by devices on any thread. */
    private volatile long skipped;
    /** The retired count at which the first armed timer is due, or Long.MAX_VALUE. */
    private volatile long next = Long.MAX_VALUE;
    private final List<Deadline> armed = new ArrayList<>();
    /** Arm order, to fire timers with equal deadlines in the order they were armed. */
    private long sequence;

    InstructionTime(String vmName, Object busLock, int shift) {
        if (shift < 0 || shift > MAX_SHIFT) {
            throw new IllegalArgumentException("icount shift " + shift + " is outside 0.." + MAX_SHIFT);
        }
        this.vmName = vmName;
        this.busLock = busLock;
        this.shift = shift;
    }

    /** The vCPU whose retired instructions are this clock. */
    void count(LongSupplier retiredInstructions) {
        this.retired = retiredInstructions;
    }

    @Override
    public long nanos() {
        return (retired.getAsLong() + skipped) << shift;
    }

    @Override
    public long nextDeadline() {
        return next;
    }

    @Override
    public boolean reached(long retiredNow, boolean idle) {
        List<Deadline> due = new ArrayList<>();
        synchronized (this) {
            if (idle) {
                if (armed.isEmpty()) {
                    return false;
                }
                if (next > retiredNow) {
                    skipped += next - retiredNow; // the halted vCPU sleeps until the first deadline
                }
            }
            long now = (retiredNow + skipped) << shift;
            armed.sort(Comparator.comparingLong((Deadline d) -> d.deadline).thenComparingLong(d -> d.order));
            while (!armed.isEmpty() && armed.get(0).deadline <= now) {
                due.add(armed.remove(0));
            }
            recompute();
        }
        synchronized (busLock) {
            for (Deadline d : due) {
                try {
                    d.expiry.run();
                } catch (RuntimeException e) {
                    LOG.error("VM {}: a device timer failed: {}", vmName, e.toString());
                }
            }
        }
        return true;
    }

    /** Guarded by the monitor: the retired count at which VM time reaches the first deadline. */
    private void recompute() {
        long min = Long.MAX_VALUE;
        for (Deadline d : armed) {
            min = Math.min(min, d.deadline);
        }
        // The first count whose time is at or past the deadline: ceil(deadline / 2^shift) - skipped.
        next = min == Long.MAX_VALUE ? Long.MAX_VALUE : Math.max(0, ((min + (1L << shift) - 1) >> shift) - skipped);
    }

    @Override
    public Timer timer(Runnable expiry) {
        return new Deadline(expiry);
    }

    @Override
    public void pause() {
    }

    @Override
    public void resume() {
    }

    @Override
    public synchronized void close() {
        armed.clear();
        next = Long.MAX_VALUE;
    }

    private final class Deadline implements Timer {
        private final Runnable expiry;
        private long deadline;
        private long order;

        Deadline(Runnable expiry) {
            this.expiry = expiry;
        }

        @Override
        public void arm(long deadlineNanos) {
            synchronized (InstructionTime.this) {
                armed.remove(this);
                deadline = Math.max(0, deadlineNanos);
                order = sequence++;
                armed.add(this);
                recompute();
            }
        }

        @Override
        public void cancel() {
            synchronized (InstructionTime.this) {
                armed.remove(this);
                recompute();
            }
        }
    }
}
