package io.cloister.distribution;

import java.util.function.BooleanSupplier;

/** Waiting for a condition with a generous deadline, instead of sleeping and hoping. */
final class Await {
    private Await() {
    }

    /** Waits until {@code condition} holds; fails naming {@code what} after {@code millis}. */
    static void until(BooleanSupplier condition, long millis, String what) throws InterruptedException {
        long deadline = System.currentTimeMillis() + millis;
        while (!condition.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out after " + millis + " ms waiting for " + what);
            }
            Thread.sleep(1); // the poll interval; nothing depends on it
        }
    }
}
