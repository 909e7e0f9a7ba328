package io.cloister.api.device;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The VM's one clock, from which its timers derive (TSC, local APIC timer, PIT, HPET, RTC
 * ticks): nanoseconds since the VM started, not advancing while it is paused.
 */
@ProviderType
public interface VmClock {
    /** Nanoseconds of VM time; monotonic, stopped while the VM is paused. */
    long nanos();

    /**
     * A timer on this clock. Its {@code expiry} runs on the VM's timer thread, serialised with
     * device accesses (as if it were one), never on a vCPU thread; it may raise interrupt lines.
     */
    Timer timer(Runnable expiry);

    /** A one-shot timer; re-arm it from its expiry for a periodic one. */
    @ProviderType
    interface Timer {
        /** Fires at VM time {@code deadlineNanos} (at once if that has passed); replaces a deadline already set. */
        void arm(long deadlineNanos);

        void cancel();
    }
}
