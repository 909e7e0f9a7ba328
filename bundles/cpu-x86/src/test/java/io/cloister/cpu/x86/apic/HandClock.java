package io.cloister.cpu.x86.apic;

import java.util.ArrayList;
import java.util.List;

import io.cloister.api.device.VmClock;

/** A VM clock that moves only when the test moves it; timers due by then fire in deadline order. */
final class HandClock implements VmClock {
    private long now;
    private final List<Hand> timers = new ArrayList<>();

    private static final class Hand implements Timer {
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
    public synchronized long nanos() {
        return now;
    }

    @Override
    public synchronized Timer timer(Runnable expiry) {
        Hand h = new Hand(expiry);
        timers.add(h);
        return h;
    }

    /** The earliest armed deadline, or -1. */
    synchronized long deadline() {
        long d = -1;
        for (Hand h : timers) {
            if (h.deadline >= 0 && (d < 0 || h.deadline < d)) {
                d = h.deadline;
            }
        }
        return d;
    }

    /** Moves to {@code t}, firing every timer due on the way at its own deadline; returns how many fired. */
    int advanceTo(long t) {
        int fired = 0;
        while (true) {
            Hand next = null;
            synchronized (this) {
                for (Hand h : timers) {
                    if (h.deadline >= 0 && h.deadline <= t && (next == null || h.deadline < next.deadline)) {
                        next = h;
                    }
                }
                if (next == null) {
                    now = Math.max(now, t);
                    return fired;
                }
                now = Math.max(now, next.deadline);
                next.deadline = -1;
            }
            next.expiry.run();
            fired++;
        }
    }

    int advance(long ns) {
        return advanceTo(nanos() + ns);
    }
}
