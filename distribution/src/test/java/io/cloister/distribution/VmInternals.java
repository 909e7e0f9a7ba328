package io.cloister.distribution;

import io.cloister.api.backend.GuestRequest;
import io.cloister.api.memory.GuestView;

/**
 * The package-private methods of the vmm bundle's Vm that the hot-swap tests need beyond the
 * VirtualMachine API: the guest's view of its memory, a guest request from outside a vCPU, and
 * the pauses swaps cost. Reached through {@link Bridge}; the vmm's own unit tests call them
 * directly.
 */
interface VmInternals {
    GuestView guestView();

    long guestRequest(GuestRequest request);

    SwapStats swapStats();

    interface SwapStats {
        /** Paused durations in nanoseconds, oldest first. */
        long[] pauses();
    }
}
