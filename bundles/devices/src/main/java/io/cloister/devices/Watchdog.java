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

        Ticket(Bus.Attached device, String vm, Thread thread) {
            this.device = device;
            this.vm = vm;
            this.thread = thread;
        }

        boolean timedOut() {
            return timedOut;
        }
    }

    private final long limitNanos;
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
            for (Ticket t : active.keySet()) {
                if (!t.timedOut && now - t.start > limitNanos) {
                    t.timedOut = true;
                    t.device.hung = true;
                    LOG.error("VM {}: device {} did not answer within {} ms: marked hung, its accesses are answered for it now",
                            t.vm, t.device, limitNanos / 1_000_000);
                    t.thread.interrupt();
                }
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
