package io.cloister.api.memory;

import org.osgi.annotation.versioning.ProviderType;

/** Creates guest-physical address spaces. */
@ProviderType
public interface MemoryManager {
    GuestMemory create(String vmName);
}
