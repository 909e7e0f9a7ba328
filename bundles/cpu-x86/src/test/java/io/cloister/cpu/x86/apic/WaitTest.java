package io.cloister.cpu.x86.apic;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import io.cloister.api.irq.ApicMessage;
import io.cloister.api.irq.DeliveryMode;

/**
 * HLT's wait: the vCPU thread blocks in {@link LocalApic#await} and another thread wakes it. Each
 * test waits for the waiter to be blocked (its thread state), never for a fixed time.
 */
class WaitTest {
    static final long LONG = TimeUnit.SECONDS.toNanos(60);
    final TestVm t = new TestVm();
    final LocalApic a = t.a0;

    /** Starts {@code await} on a new thread and returns once that thread is blocked in it. */
    CompletableFuture<LocalApic.Wake> halt(boolean interruptsEnabled) throws InterruptedException {
        CompletableFuture<LocalApic.Wake> result = new CompletableFuture<>();
        Thread th = Thread.ofPlatform().start(() -> result.complete(a.await(interruptsEnabled, LONG)));
        long end = System.nanoTime() + LONG;
        while (th.getState() != Thread.State.TIMED_WAITING && !result.isDone()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("the waiter never blocked");
            }
            Thread.onSpinWait();
        }
        return result;
    }

    @Test
    void deliveryFromAnotherThreadWakesIt() throws Exception {
        CompletableFuture<LocalApic.Wake> w = halt(true);
        Thread.ofPlatform().start(() -> t.fixed(0, 0x40)).join();
        assertEquals(LocalApic.Wake.EVENT, w.get(60, TimeUnit.SECONDS));
        assertEquals(0x40, a.takeInterrupt(true));
    }

    @Test
    void kickWakesIt() throws Exception {
        CompletableFuture<LocalApic.Wake> w = halt(true);
        Thread.ofPlatform().start(a::kick).join();
        assertEquals(LocalApic.Wake.KICK, w.get(60, TimeUnit.SECONDS));
    }

    @Test
    void aKickBeforeTheWaitIsNotLost() {
        a.kick();
        assertEquals(LocalApic.Wake.KICK, a.await(true, LONG));
    }

    @Test
    void aPendingInterruptReturnsAtOnce() {
        t.fixed(0, 0x40);
        assertEquals(LocalApic.Wake.EVENT, a.await(true, LONG));
    }

    @Test
    void timeout() {
        assertEquals(LocalApic.Wake.TIMEOUT, a.await(true, 1_000_000));
    }

    @Test
    void withInterruptsDisabledOnlyAnNmiWakes() throws Exception {
        CompletableFuture<LocalApic.Wake> w = halt(false);
        t.fixed(0, 0x40);
        assertEquals(LocalApic.Wake.TIMEOUT, a.await(false, 1_000_000), "a fixed interrupt does not end HLT with IF=0");
        t.vm.deliver(new ApicMessage(0, false, 0, DeliveryMode.NMI, false));
        assertEquals(LocalApic.Wake.EVENT, w.get(60, TimeUnit.SECONDS));
    }

    @Test
    void theTimerWakesIt() throws Exception {
        a.writeMmio(0x320, 0x40);
        a.writeMmio(0x380, 1000);
        CompletableFuture<LocalApic.Wake> w = halt(true);
        Thread.ofPlatform().start(() -> t.clock.advance(2000)).join(); // as the VM's timer thread
        assertEquals(LocalApic.Wake.EVENT, w.get(60, TimeUnit.SECONDS));
    }

    @Test
    void waitForSipiWakesOnTheStartupIpiOnly() throws Exception {
        t.a1.writeMmio(0xf0, 0x1ff);
        LocalApic ap = t.a1;
        ap.waitForStartup();
        CompletableFuture<LocalApic.Wake> w = new CompletableFuture<>();
        Thread th = Thread.ofPlatform().start(() -> w.complete(ap.await(true, LONG)));
        while (th.getState() != Thread.State.TIMED_WAITING) {
            Thread.onSpinWait();
        }
        t.fixed(1, 0x40);
        t.vm.deliver(new ApicMessage(1, false, 0, DeliveryMode.NMI, false));
        t.vm.deliver(new ApicMessage(1, false, 0x10, DeliveryMode.STARTUP, false));
        assertEquals(LocalApic.Wake.EVENT, w.get(60, TimeUnit.SECONDS));
        assertEquals(0x10, ap.takeStartup());
    }
}
