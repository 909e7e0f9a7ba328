package io.cloister.api.memory;

import org.osgi.annotation.versioning.ProviderType;

/** Creates guest-physical address spaces. */
@ProviderType
public interface MemoryManager {
    /** A new, empty address space for VM {@code vmName}; the caller alone gets its guest view. */
    Created create(String vmName);

    /** The host-side handle and the guest's own view (for the CPU engine) of a new address space. */
    record Created(GuestMemory memory, GuestView guestView) {
    }
}
