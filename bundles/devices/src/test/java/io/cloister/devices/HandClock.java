package io.cloister.devices;

import java.util.ArrayList;
import java.util.List;

import io.cloister.api.device.VmClock;

/** A VM clock for device tests: it moves only when told, and the test fires timers one at a time. */
final class HandClock implements VmClock {
    long now;
    private final List<Hand> timers = new ArrayList<>();

    /** One timer: its deadline, or -1 when not armed. */
    final class Hand implements Timer {
        final Runnable expiry;
        long deadline = -1;

        Hand(Runnable expiry) {
            this.expiry = expiry;
        }

        @Override
        public void arm(long d) {
            deadline = d;
        }

        @Override
        public void cancel() {
            deadline = -1;
        }
    }

    @Override
    public long nanos() {
        return now;
    }

    @Override
    public Timer timer(Runnable expiry) {
        Hand h = new Hand(expiry);
        timers.add(h);
        return h;
    }

    /** The earliest armed timer, or null. */
    Hand next() {
        Hand first = null;
        for (Hand h : timers) {
            if (h.deadline >= 0 && (first == null || h.deadline < first.deadline)) {
                first = h;
            }
        }
        return first;
    }

    /** The earliest deadline armed, or -1. */
    long deadline() {
        Hand h = next();
        return h == null ? -1 : h.deadline;
    }

    /** Moves to the earliest deadline (if it is not past) and fires it. */
    void fire() {
        Hand h = next();
        now = Math.max(now, h.deadline);
        h.deadline = -1;
        h.expiry.run();
    }
}
