package io.cloister.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import io.cloister.api.device.VmClock;

/** The VM clock stops while paused; timers fire on VM time, under the bus lock, and not while paused. */
class VmTimeTest {
    final Object bus = new Object();

    @Test
    void theClockStopsWhilePaused() throws Exception {
        try (VmTime t = new VmTime("t", bus)) {
            long a = t.nanos();
            t.pause();
            long b = t.nanos();
            Thread.sleep(20);
            assertEquals(b, t.nanos(), "paused: time stands");
            t.resume();
            Thread.sleep(1);
            assertTrue(t.nanos() > b && b >= a);
        }
    }

    @Test
    void aTimerFiresUnderTheBusLockAndCanBeRearmed() throws Exception {
        try (VmTime t = new VmTime("t", bus)) {
            CountDownLatch fired = new CountDownLatch(2);
            boolean[] locked = {true};
            VmClock.Timer[] timer = new VmClock.Timer[1];
            timer[0] = t.timer(() -> {
                locked[0] &= Thread.holdsLock(bus);
                fired.countDown();
                if (fired.getCount() > 0) {
                    timer[0].arm(t.nanos() + 1_000_000); // periodic, from its own expiry
                }
            });
            timer[0].arm(t.nanos() + 1_000_000);
            assertTrue(fired.await(10, TimeUnit.SECONDS));
            assertTrue(locked[0], "expiries hold the bus lock");
        }
    }

    @Test
    void noTimerFiresWhilePausedAndCancelledOnesNever() throws Exception {
        try (VmTime t = new VmTime("t", bus)) {
            CountDownLatch fired = new CountDownLatch(1);
            VmClock.Timer timer = t.timer(fired::countDown);
            t.pause();
            timer.arm(0); // due at once, but the VM is paused
            assertFalse(fired.await(100, TimeUnit.MILLISECONDS));
            t.resume();
            assertTrue(fired.await(10, TimeUnit.SECONDS), "fires once resumed");
            CountDownLatch never = new CountDownLatch(1);
            VmClock.Timer cancelled = t.timer(never::countDown);
            cancelled.arm(t.nanos() + 50_000_000);
            cancelled.cancel();
            assertFalse(never.await(200, TimeUnit.MILLISECONDS));
        }
    }

    /** A re-arm keeps a wake-up set for an earlier time (it sleeps again): the expiry still comes at the last deadline, once. */
    @Test
    void aRearmMovesTheExpiryLaterOrEarlierAndItFiresOnce() throws Exception {
        try (VmTime t = new VmTime("t", bus)) {
            java.util.concurrent.atomic.AtomicLong firedAt = new java.util.concurrent.atomic.AtomicLong(-1);
            java.util.concurrent.atomic.AtomicInteger count = new java.util.concurrent.atomic.AtomicInteger();
            VmClock.Timer timer = t.timer(() -> {
                firedAt.set(t.nanos());
                count.incrementAndGet();
            });
            long later = t.nanos() + 300_000_000;
            timer.arm(t.nanos() + 20_000_000);
            timer.arm(later); // the wake-up at +20 ms stays, and must not expire it
            Thread.sleep(150);
            assertEquals(0, count.get(), "not before the later deadline");
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (count.get() == 0 && System.nanoTime() < until) {
                Thread.sleep(5);
            }
            assertEquals(1, count.get());
            assertTrue(firedAt.get() >= later, "at the later deadline");

            CountDownLatch early = new CountDownLatch(1);
            VmClock.Timer second = t.timer(early::countDown);
            second.arm(t.nanos() + TimeUnit.SECONDS.toNanos(60));
            second.arm(t.nanos() + 1_000_000); // earlier than the wake-up: a new one
            assertTrue(early.await(10, TimeUnit.SECONDS), "an earlier deadline is not held back by the later wake-up");

            CountDownLatch rearmed = new CountDownLatch(1);
            VmClock.Timer third = t.timer(rearmed::countDown);
            long at = t.nanos() + 250_000_000;
            third.arm(t.nanos() + 20_000_000);
            third.cancel();
            third.arm(at); // the cancelled wake-up is reused and sleeps again
            assertFalse(rearmed.await(120, TimeUnit.MILLISECONDS), "not at the cancelled deadline");
            assertTrue(rearmed.await(10, TimeUnit.SECONDS), "at the re-armed one");
            assertTrue(t.nanos() >= at);
            Thread.sleep(50);
            assertEquals(1, count.get(), "the first timer fired once only");
        }
    }
}
