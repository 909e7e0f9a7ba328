package io.cloister.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.cloister.api.device.Space;

/**
 * The device bus's watchdog: a device that spins or waits in an access is marked hung and its
 * vCPU freed, but an access the host merely delays (its thread, or the thread holding a lock it
 * needs, runnable and waiting for a core) is not, however long it takes. Each test's timeout
 * only bounds a broken run; nothing here measures time.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class WatchdogTest {
    static final long LIMIT_MS = 100;
    static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    static final long VALUE = 0x1234_5678_9abc_def0L & 0xff;

    final TestContext context = new TestContext();
    final Watchdog watchdog = new Watchdog(LIMIT_MS);
    final Bus bus = new Bus(context, watchdog, null);

    @AfterEach
    void close() {
        bus.close();
        watchdog.close();
    }

    /** What the bus says about the one device a test attached. */
    String device() {
        return bus.devices().stream().filter(d -> !d.contains("(platform)")).findFirst().orElseThrow();
    }

    void attach(Runnable behaviour) {
        bus.attach(new DevicesTest.Fake("d", Space.PIO, 0x300, 4, behaviour), "bundle.d");
    }

    /** A device's access is answered for it with all-ones and the device is skipped from then on. */
    void assertHung(AtomicInteger calls) {
        assertFalse(Thread.currentThread().isInterrupted(), "the interrupt must not leak into the vCPU");
        assertTrue(device().contains("HUNG"), device());
        assertEquals(0xffL, bus.read(Space.PIO, 0x300, 1));
        bus.write(Space.PIO, 0x300, 1, 0);
        assertEquals(1, calls.get(), "a hung device is skipped");
    }

    @Test
    void aDeviceWaitingForeverIsHungAndTheVcpuFreed() {
        AtomicInteger calls = new AtomicInteger();
        attach(() -> {
            calls.incrementAndGet();
            try {
                new CountDownLatch(1).await(); // until the watchdog's interrupt
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertEquals(0xffL, bus.read(Space.PIO, 0x300, 1));
        assertHung(calls);
    }

    /** Spinning cannot be interrupted in Java; this device stops when interrupted, so that the test ends. */
    @Test
    void aSpinningDeviceIsHung() {
        AtomicInteger calls = new AtomicInteger();
        attach(() -> {
            calls.incrementAndGet();
            while (!Thread.currentThread().isInterrupted()) {
                Thread.onSpinWait();
            }
        });
        assertEquals(0xffL, bus.read(Space.PIO, 0x300, 1));
        assertHung(calls);
    }

    /** A read of a pipe nobody writes: runnable to Java, asleep to the kernel. */
    @Test
    void aDeviceBlockedInNativeIoIsHung() throws IOException {
        Assumptions.assumeTrue(Files.isSymbolicLink(Path.of("/proc/thread-self")),
                "the kernel's thread states (/proc/thread-self, Linux) tell native I/O from a descheduled thread");
        Pipe pipe = Pipe.open();
        try {
            AtomicInteger calls = new AtomicInteger();
            attach(() -> {
                calls.incrementAndGet();
                try {
                    pipe.source().read(ByteBuffer.allocate(1)); // the interrupt closes the channel
                } catch (IOException e) {
                    // closed by the watchdog's interrupt
                }
            });
            assertEquals(0xffL, bus.read(Space.PIO, 0x300, 1));
            assertHung(calls);
        } finally {
            pipe.sink().close();
            pipe.source().close();
        }
    }

    /** The access waits for a lock that the device's own thread holds while it sleeps. */
    @Test
    void aDeviceWaitingForALockItsOtherThreadSleepsWithIsHung() throws Exception {
        ReentrantLock lock = new ReentrantLock();
        CountDownLatch held = new CountDownLatch(1);
        Thread sleeper = Thread.ofPlatform().daemon().start(() -> {
            lock.lock();
            try {
                held.countDown();
                Thread.sleep(Long.MAX_VALUE);
            } catch (InterruptedException e) {
                // the test is over
            } finally {
                lock.unlock();
            }
        });
        held.await();
        AtomicInteger calls = new AtomicInteger();
        attach(() -> {
            calls.incrementAndGet();
            try {
                lock.lockInterruptibly();
                lock.unlock();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try {
            assertEquals(0xffL, bus.read(Space.PIO, 0x300, 1));
            assertHung(calls);
        } finally {
            sleeper.interrupt();
            sleeper.join();
        }
    }

    @Test
    void aDeadlockedDeviceIsHung() throws Exception {
        ReentrantLock a = new ReentrantLock();
        ReentrantLock b = new ReentrantLock();
        CountDownLatch bHeld = new CountDownLatch(1);
        CountDownLatch aHeld = new CountDownLatch(1);
        Thread other = Thread.ofPlatform().daemon().start(() -> {
            try {
                b.lockInterruptibly();
                try {
                    bHeld.countDown();
                    aHeld.await();
                    a.lockInterruptibly(); // never: the access holds a and waits for b
                    a.unlock();
                } finally {
                    b.unlock();
                }
            } catch (InterruptedException e) {
                // the test is over
            }
        });
        bHeld.await();
        AtomicInteger calls = new AtomicInteger();
        attach(() -> {
            calls.incrementAndGet();
            a.lock();
            try {
                aHeld.countDown();
                b.lockInterruptibly();
                b.unlock();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                a.unlock();
            }
        });
        try {
            assertEquals(0xffL, bus.read(Space.PIO, 0x300, 1));
            assertHung(calls);
        } finally {
            other.interrupt();
            other.join();
        }
    }

    /**
     * An access that needs some CPU (60 ms, under the limit) on a host with three more runnable
     * threads per core: its thread waits for a core most of the time, and the access takes over
     * the limit of wall time. The old watchdog, which let such an access off only while its thread
     * got under a tenth of a core, marked it hung.
     */
    @Test
    void anAccessDescheduledByTheHostIsNotHung() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        attach(() -> {
            calls.incrementAndGet();
            burnCpu(LIMIT_MS * 1_000_000 * 3 / 5);
        });
        long wall = underHostLoad(() -> {
            long start = System.nanoTime();
            assertEquals(VALUE, bus.read(Space.PIO, 0x300, 1) & 0xff);
            return System.nanoTime() - start;
        });
        assumeDelayedPastTheLimit(wall);
        assertEquals(1, calls.get());
        assertFalse(device().contains("HUNG"), device());
    }

    /**
     * An access waiting for a lock whose owner is descheduled (as a vCPU arming a timer waits for
     * the timer thread's queue lock): the old watchdog marked a thread parked on a lock hung at
     * the limit. The owner uses 60 ms of CPU under the lock, under the same load as above.
     */
    @Test
    void anAccessWaitingForADescheduledLockOwnerIsNotHung() throws Exception {
        ReentrantLock lock = new ReentrantLock();
        AtomicInteger calls = new AtomicInteger();
        attach(() -> {
            calls.incrementAndGet();
            lock.lock();
            lock.unlock();
        });
        long wall = underHostLoad(() -> {
            CountDownLatch held = new CountDownLatch(1);
            Thread owner = Thread.ofPlatform().daemon().start(() -> {
                lock.lock();
                try {
                    held.countDown();
                    burnCpu(LIMIT_MS * 1_000_000 * 3 / 5);
                } finally {
                    lock.unlock();
                }
            });
            held.await();
            long start = System.nanoTime();
            assertEquals(VALUE, bus.read(Space.PIO, 0x300, 1) & 0xff);
            long took = System.nanoTime() - start;
            owner.join();
            return took;
        });
        assumeDelayedPastTheLimit(wall);
        assertEquals(1, calls.get());
        assertFalse(device().contains("HUNG"), device());
    }

    /** The delay tests show something only if the host load did delay the access past the limit (it always has, so far). */
    static void assumeDelayedPastTheLimit(long wallNanos) {
        Assumptions.assumeTrue(wallNanos > LIMIT_MS * 1_000_000,
                "the access took only " + wallNanos / 1_000_000 + " ms: the load did not delay it past the limit");
    }

    /** Uses this much of the current thread's CPU time. */
    static void burnCpu(long nanos) {
        long start = THREADS.getCurrentThreadCpuTime();
        long x = 1;
        while (THREADS.getCurrentThreadCpuTime() - start < nanos) {
            for (int i = 0; i < 10_000; i++) {
                x = x * 6364136223846793005L + 1442695040888963407L;
            }
        }
        if (x == 42) {
            System.out.print(""); // keeps the loop's work
        }
    }

    /** Runs {@code body} while three spinning threads per core keep the host's cores busy. */
    static <T> T underHostLoad(Callable<T> body) throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> load = new ArrayList<>();
        for (int i = 0; i < 3 * Runtime.getRuntime().availableProcessors(); i++) {
            load.add(Thread.ofPlatform().daemon().name("host-load-" + i).start(() -> {
                while (!stop.get()) {
                    Thread.onSpinWait();
                }
            }));
        }
        try {
            return body.call();
        } finally {
            stop.set(true);
            for (Thread t : load) {
                t.join();
            }
        }
    }
}
