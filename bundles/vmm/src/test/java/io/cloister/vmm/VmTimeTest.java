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
}
