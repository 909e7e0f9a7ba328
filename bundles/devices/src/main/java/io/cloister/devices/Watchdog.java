package io.cloister.devices;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Notices device accesses that do not return: after {@code limitMillis} the device is marked
 * hung (skipped from then on) and the vCPU thread stuck in it is interrupted, which frees it from
 * a device blocked in sleep, wait or I/O. A device spinning in a loop cannot be preempted in Java;
 * it is still marked hung, so the VM loses only that vCPU.
 */
final class Watchdog implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Watchdog.class);

    /** One access in progress. */
    static final class Ticket {
        final Bus.Attached device;
        final String vm;
        final Thread thread;
        final long start = System.nanoTime();
        volatile boolean timedOut;
        /** When the watchdog first saw this access, and the thread's CPU time then (watchdog thread only). */
        long seenNanos = -1;
        long seenCpu;

        Ticket(Bus.Attached device, String vm, Thread thread) {
            this.device = device;
            this.vm = vm;
            this.thread = thread;
        }

        boolean timedOut() {
            return timedOut;
        }
    }

    /** How many times the limit an access merely delayed by the host may take before it counts as hung. */
    static final int DELAYED_FACTOR = 20;
    private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();
    private final long limitNanos;
    /** Watchdog passes started (tests wait on it). */
    volatile long passes;
    private final Map<Ticket, Boolean> active = new ConcurrentHashMap<>();
    private final Thread thread;
    private volatile boolean closed;

    Watchdog(long limitMillis) {
        this.limitNanos = limitMillis * 1_000_000;
        this.thread = Thread.ofPlatform().daemon().name("cloister-device-watchdog").start(this::watch);
    }

    Ticket enter(Bus.Attached device, String vm, Thread t) {
        Ticket ticket = new Ticket(device, vm, t);
        active.put(ticket, Boolean.TRUE);
        return ticket;
    }

    void leave(Ticket t) {
        active.remove(t);
        if (t.timedOut) {
            Thread.interrupted(); // the interrupt was for the device, not for the vCPU
        }
    }

    private void watch() {
        while (!closed) {
            try {
                Thread.sleep(Math.max(1, limitNanos / 4_000_000));
            } catch (InterruptedException e) {
                return;
            }
            long now = System.nanoTime();
            passes++;
            for (Ticket t : active.keySet()) {
                if (t.seenNanos < 0) {
                    t.seenNanos = now;
                    t.seenCpu = cpu(t.thread);
                }
                if (!t.timedOut && now - t.start > limitNanos && !merelyDelayed(t, now)) {
                    t.timedOut = true;
                    t.device.hung = true;
                    LOG.error("VM {}: device {} did not answer within {} ms: marked hung, its accesses are answered for it now",
                            t.vm, t.device, limitNanos / 1_000_000);
                    t.thread.interrupt();
                }
            }
        }
    }

    /**
     * Whether an access past the limit is only delayed by the host: its thread runnable (or
     * blocked on a lock) but given almost no CPU since the watchdog first saw it, as on a host
     * with more runnable threads than cores, where a PIT access was seen to take over 250 ms and
     * the PIT was lost for good. A device waiting on purpose (sleep, wait, park) or spinning is
     * hung at the limit; a delayed one after {@link #DELAYED_FACTOR} times the limit at the latest
     * (which also catches a device blocked in native I/O, runnable without CPU).
     */
    private boolean merelyDelayed(Ticket t, long now) {
        if (now - t.start > DELAYED_FACTOR * limitNanos) {
            return false;
        }
        Thread.State state = t.thread.getState();
        if (state != Thread.State.RUNNABLE && state != Thread.State.BLOCKED) {
            return false;
        }
        long cpu = cpu(t.thread);
        return cpu >= 0 && cpu - t.seenCpu < (now - t.seenNanos) / 10;
    }

    /** The thread's CPU time in nanoseconds, or -1 where the JVM does not measure it. */
    private static long cpu(Thread thread) {
        try {
            return THREADS.isThreadCpuTimeSupported() ? THREADS.getThreadCpuTime(thread.threadId()) : -1;
        } catch (UnsupportedOperationException e) {
            return -1;
        }
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
