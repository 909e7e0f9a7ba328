package io.cloister.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The safe point: threads in the gate as vCPUs are, kicked out, held, let back in, and stopped for good. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GateTest {
    static final int THREADS = 4;
    final Gate gate = new Gate();
    /** Threads between enter and leave now. */
    final AtomicInteger inside = new AtomicInteger();
    /** Per thread: times it went through the gate. */
    final AtomicLongArray passes = new AtomicLongArray(THREADS);
    /** Raised by the kick: the "guest code" each thread runs inside until kicked. */
    final Object engine = new Object();
    boolean kicked;
    final List<Thread> threads = new ArrayList<>();
    final AtomicBoolean broken = new AtomicBoolean();

    @AfterEach
    void end() throws InterruptedException {
        gate.kill(0);
        for (Thread t : threads) {
            t.join(Harness.DEADLINE_MS);
        }
    }

    /** A vCPU thread: enters, runs until kicked, leaves; again, until the gate is dead. */
    void startVcpus() {
        gate.kickWith(() -> {
            synchronized (engine) {
                kicked = true;
                engine.notifyAll();
            }
        });
        for (int i = 0; i < THREADS; i++) {
            int n = i;
            threads.add(Thread.ofPlatform().name("vcpu-" + i).start(() -> {
                while (gate.enter()) {
                    try {
                        if (inside.incrementAndGet() > THREADS) {
                            broken.set(true);
                        }
                        passes.incrementAndGet(n);
                        synchronized (engine) {
                            while (!kicked) {
                                engine.wait();
                            }
                        }
                    } catch (InterruptedException e) {
                        return;
                    } finally {
                        inside.decrementAndGet();
                        gate.leave();
                    }
                }
            }));
        }
    }

    /** Clears the kick once the gate is closed, so the threads stay in the "guest" when let back in. */
    void rearm() {
        synchronized (engine) {
            kicked = false;
        }
    }

    boolean allWaitingAtTheGate() {
        return threads.stream().allMatch(t -> t.getState() == Thread.State.WAITING) && inside.get() == 0;
    }

    @Test
    void closeKicksEveryThreadOutAndHoldsThemUntilOpen() throws Exception {
        gate.open();
        startVcpus();
        Harness.await(() -> inside.get() == THREADS, "all threads inside");

        gate.close(); // returns only when the kick took all of them out
        assertEquals(0, inside.get(), "nothing inside a closed gate");
        rearm();
        Harness.await(this::allWaitingAtTheGate, "the threads to wait at the gate");
        long[] before = new long[THREADS];
        for (int i = 0; i < THREADS; i++) {
            before[i] = passes.get(i);
        }
        assertEquals(0, inside.get());
        assertFalse(gate.isOpen());

        gate.open();
        assertTrue(gate.isOpen());
        Harness.await(() -> inside.get() == THREADS, "all threads back inside");
        for (int i = 0; i < THREADS; i++) {
            assertEquals(before[i] + 1, passes.get(i), "thread " + i + " entered once more, after open");
        }
        for (int round = 0; round < 20; round++) { // safe points in a row
            gate.close();
            assertEquals(0, inside.get());
            rearm();
            gate.open();
            Harness.await(() -> inside.get() == THREADS, "all threads back inside");
        }
        assertFalse(broken.get());
    }

    @Test
    void killEndsEveryThreadAndTheGateStaysShut() throws Exception {
        gate.open();
        startVcpus();
        Harness.await(() -> inside.get() == THREADS, "all threads inside");
        assertTrue(gate.kill(Harness.DEADLINE_MS), "every thread left");
        assertEquals(0, inside.get());
        for (Thread t : threads) {
            t.join(Harness.DEADLINE_MS);
            assertFalse(t.isAlive(), t.getName() + " ended: enter() says the gate is dead");
        }
        gate.open();
        assertFalse(gate.isOpen(), "a dead gate does not open again");
        assertFalse(gate.enter());
    }

    @Test
    void killWakesThreadsWaitingAtAClosedGate() throws Exception {
        startVcpus(); // the gate was never opened: they wait
        Harness.await(this::allWaitingAtTheGate, "the threads to wait at the gate");
        assertTrue(gate.kill(Harness.DEADLINE_MS));
        for (Thread t : threads) {
            t.join(Harness.DEADLINE_MS);
            assertFalse(t.isAlive());
        }
        assertTrue(threads.stream().allMatch(t -> passes.get(Integer.parseInt(t.getName().substring(5))) == 0));
    }

    /** A thread the kick cannot reach (an engine that ignores requestExit): kill gives up after its bound, and says so. */
    @Test
    void killGivesUpOnAThreadThatDoesNotLeaveAndTheThreadIsKeptOutAfterwards() throws Exception {
        gate.open();
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger entries = new AtomicInteger();
        Thread stuck = Thread.ofPlatform().start(() -> {
            while (gate.enter()) {
                entries.incrementAndGet();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    return;
                } finally {
                    gate.leave();
                }
            }
        });
        threads.add(stuck);
        Harness.await(() -> entries.get() == 1, "the thread inside");
        assertFalse(gate.kill(10), "the thread is still inside"); // a bound, not a measurement
        release.countDown();
        stuck.join(Harness.DEADLINE_MS);
        assertFalse(stuck.isAlive(), "it noticed the dead gate once it left the engine");
        assertEquals(1, entries.get());
    }

    @Test
    void anInterruptedWaitAtTheGateGivesUp() throws Exception {
        AtomicBoolean entered = new AtomicBoolean(true);
        Thread t = Thread.ofPlatform().start(() -> entered.set(gate.enter()));
        Harness.await(() -> t.getState() == Thread.State.WAITING, "the thread to wait at the closed gate");
        t.interrupt();
        t.join(Harness.DEADLINE_MS);
        assertFalse(entered.get());
    }
}
