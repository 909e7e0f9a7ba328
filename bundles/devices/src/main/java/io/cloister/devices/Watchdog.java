package io.cloister.devices;

import java.lang.management.LockInfo;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Notices device accesses that do not return: the device is marked hung (skipped from then on)
 * and the vCPU thread stuck in it is interrupted, which frees it from a device blocked in sleep,
 * wait or interruptible I/O. A device spinning in a loop cannot be preempted in Java; it is still
 * marked hung, so the VM loses only that vCPU.
 *
 * <p>What counts is what the device did, never how long the host took: on a 2-core host with
 * more runnable threads than cores an access of the PIT took over 250 ms of wall time, the PIT
 * was marked hung and Linux lost its timer. So the watchdog does not time accesses by the wall
 * clock. Each pass (every quarter of the limit) looks at what the access waits for, following
 * lock owners from the accessing thread to the thread at the end of the chain, and judges that:
 * <ul>
 * <li>running or runnable (waiting for a core): only its CPU time counts; hung when it has spun
 *     {@code limit} of CPU in this access. A descheduled thread gets no CPU, so it is never hung.
 * <li>waiting on purpose (sleep, {@code Object.wait}, a latch or condition, park): hung when every
 *     pass for {@code limit} found it so. For the accessing thread the kernel's own state of the
 *     thread ({@code /proc}) says whether it really sleeps: a thread woken but not yet given a core
 *     still shows as waiting in Java, but is runnable ('R') to the kernel.
 * <li>in a lock acquisition (a monitor, a {@code ReentrantLock}): its owner is judged instead;
 *     a lock being handed over (no owner) is a delay.
 * <li>sleeping to the kernel but running to Java (blocked in native I/O, or in a JVM-internal
 *     wait such as a safepoint), or an owner waiting on purpose (whose kernel state is not known):
 *     hung after {@link #LONG_FACTOR} times the limit of passes that all found it so.
 * <li>in uninterruptible I/O ('D', e.g. guest memory paged in): the host's delay, never hung.
 * </ul>
 * A lock cycle (deadlock) is waiting on purpose. Not caught: an owner blocked in native I/O (to
 * Java it is runnable without CPU, as a descheduled thread is).
 */
final class Watchdog implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Watchdog.class);
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    /** How many times the limit a wait the watchdog cannot verify (native I/O, a lock owner's wait) must last. */
    static final int LONG_FACTOR = 20;
    /** How many lock owners the watchdog follows before it gives up (and blames nobody). */
    private static final int MAX_HOPS = 16;

    /** The kernel's id of each accessing thread (Linux, {@code /proc/thread-self}), or -1. */
    private static final ThreadLocal<Integer> NATIVE_TID = ThreadLocal.withInitial(Watchdog::nativeTid);

    /** One access in progress. */
    static final class Ticket {
        final Bus.Attached device;
        final String vm;
        final Thread thread;
        final int tid;
        final long start = System.nanoTime();
        volatile boolean timedOut;

        // Watchdog thread only:
        /** The thread whose CPU the last pass read (-1: none), what it read, and the CPU spun in this access. */
        long cpuThread = -1;
        long cpuLast;
        long spun;
        /** Since when (first pass) every pass found {@link #waitingOn} waiting with this bound, or -1. */
        long waitingSince = -1;
        long waitingOn = -1;
        long waitingBound;
        String waitingWhat;

        Ticket(Bus.Attached device, String vm, Thread thread, int tid) {
            this.device = device;
            this.vm = vm;
            this.thread = thread;
            this.tid = tid;
        }

        boolean timedOut() {
            return timedOut;
        }
    }

    private final long limitNanos;
    /** Watchdog passes finished (tests wait on it). */
    volatile long passes;
    private final Map<Ticket, Boolean> active = new ConcurrentHashMap<>();
    private final Thread thread;
    private volatile boolean closed;

    Watchdog(long limitMillis) {
        this.limitNanos = limitMillis * 1_000_000;
        this.thread = Thread.ofPlatform().daemon().name("cloister-device-watchdog").start(this::watch);
    }

    /** An access by the current thread begins. */
    Ticket enter(Bus.Attached device, String vm) {
        Ticket ticket = new Ticket(device, vm, Thread.currentThread(), NATIVE_TID.get());
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
            for (Ticket t : active.keySet()) {
                if (!t.timedOut) {
                    String why = judge(t, System.nanoTime());
                    if (why != null) {
                        t.timedOut = true;
                        t.device.hung = true;
                        LOG.error("VM {}: device {} {}: marked hung, its accesses are answered for it now", t.vm, t.device, why);
                        t.thread.interrupt();
                    }
                }
            }
            passes++;
        }
    }

    /** Why this pass finds the access hung, or null. */
    private String judge(Ticket t, long now) {
        long self = t.thread.threadId();
        char os = t.tid > 0 ? kernelState(t.tid) : '?';
        if (os == 'R') {
            return running(t, self); // on a core or waiting for one: its CPU tells
        }
        if (os != 'S' && os != '?') {
            return delayed(t); // 'D': uninterruptible I/O of the host (paging); stopped or traced: not the device
        }
        long cur = self;
        Set<Long> seen = new HashSet<>();
        seen.add(self);
        for (int hop = 0; hop < MAX_HOPS; hop++) {
            ThreadInfo info = THREADS.getThreadInfo(cur); // without a stack: no safepoint
            if (info == null) {
                return delayed(t); // the owner ended: the lock is free
            }
            Thread.State state = info.getThreadState();
            boolean own = cur == self;
            switch (state) {
                case RUNNABLE -> {
                    if (own && os == 'S') {
                        return waiting(t, now, cur, LONG_FACTOR * limitNanos, "blocked in native I/O");
                    }
                    return running(t, cur);
                }
                case WAITING, TIMED_WAITING -> {
                    if (!acquiringLock(info)) {
                        // The kernel's 'S' confirms the accessing thread's wait; an owner's is taken on Java's word, for longer.
                        return waiting(t, now, cur, own ? limitNanos : LONG_FACTOR * limitNanos,
                                own ? "waited" : "waited on thread " + info.getThreadName() + ", which waited");
                    }
                }
                case BLOCKED -> {
                    // acquiring a lock: follow its owner below
                }
                default -> {
                    return delayed(t);
                }
            }
            long owner = info.getLockOwnerId();
            if (owner < 0) {
                return delayed(t); // the lock is being handed over
            }
            if (!seen.add(owner)) {
                return waiting(t, now, owner, limitNanos, "deadlocked on " + info.getLockName());
            }
            cur = owner;
        }
        return delayed(t);
    }

    /** A thread acquiring a {@code ReentrantLock} or a read-write lock parks; every other park is a wait on purpose. */
    private static boolean acquiringLock(ThreadInfo info) {
        LockInfo lock = info.getLockInfo();
        if (lock == null) {
            return false;
        }
        String c = lock.getClassName();
        return c.startsWith("java.util.concurrent.locks.ReentrantLock$")
                || c.startsWith("java.util.concurrent.locks.ReentrantReadWriteLock$");
    }

    /** The access runs in thread {@code id} (or waits for a core there): hung once that thread spun the limit of CPU in it. */
    private String running(Ticket t, long id) {
        t.waitingSince = -1;
        long cpu = cpu(id);
        if (cpu < 0) {
            return null; // no CPU clock in this JVM: a spinning device is not caught
        }
        if (t.cpuThread == id) {
            t.spun += cpu - t.cpuLast;
        }
        t.cpuThread = id;
        t.cpuLast = cpu;
        return t.spun >= limitNanos ? String.format("spun %d ms of CPU in one access", t.spun / 1_000_000) : null;
    }

    /** The access waits; hung once every pass for {@code bound} found it waiting so. */
    private String waiting(Ticket t, long now, long id, long bound, String what) {
        t.cpuThread = -1;
        if (t.waitingSince < 0 || t.waitingOn != id || t.waitingBound != bound || !what.equals(t.waitingWhat)) {
            t.waitingSince = now;
            t.waitingOn = id;
            t.waitingBound = bound;
            t.waitingWhat = what;
            return null;
        }
        long waited = now - t.waitingSince;
        return waited >= bound ? String.format("%s for %d ms in one access", what, waited / 1_000_000) : null;
    }

    private static String delayed(Ticket t) {
        t.cpuThread = -1;
        t.waitingSince = -1;
        return null;
    }

    /** The thread's CPU time in nanoseconds, or -1 where the JVM does not measure it. */
    private static long cpu(long id) {
        try {
            return THREADS.isThreadCpuTimeSupported() ? THREADS.getThreadCpuTime(id) : -1;
        } catch (UnsupportedOperationException e) {
            return -1;
        }
    }

    /** The current thread's id to the kernel, or -1 where there is no {@code /proc/thread-self}. */
    static int nativeTid() {
        try {
            return Integer.parseInt(Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString());
        } catch (java.io.IOException | RuntimeException e) { // not Linux, no /proc: the Java state is all there is
            return -1;
        }
    }

    /**
     * The kernel's state of a thread of this process ('R' running or runnable, 'S' sleeping, 'D'
     * uninterruptible...), from {@code /proc/self/task/TID/stat}; '?' if it cannot be read.
     */
    static char kernelState(int tid) {
        try {
            String stat = new String(Files.readAllBytes(Path.of("/proc/self/task/" + tid + "/stat")), StandardCharsets.US_ASCII);
            int i = stat.lastIndexOf(')'); // the name in parentheses may hold anything
            return i >= 0 && i + 2 < stat.length() ? stat.charAt(i + 2) : '?';
        } catch (java.io.IOException | RuntimeException e) {
            return '?';
        }
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
