package io.cloister.api.memory;

import org.osgi.annotation.versioning.ProviderType;

import io.cloister.api.restricted.RestrictedFile;

/** Where the pages of a memslot live. */
@ProviderType
public sealed interface Backing {
    /** Fresh host-shared memory, zero-filled, owned by the slot. */
    record Anonymous() implements Backing {
    }

    /** The same host pages as another slot, starting {@code offset} bytes into it (SMRAM, PAM). */
    record AliasOf(int slotId, long offset) implements Backing {
    }

    /**
     * Pages of a restricted-memory file from {@code offset}. The slot binds that range of the file
     * exclusively: a second binding of any of its pages is refused.
     */
    record Restricted(RestrictedFile file, long offset) implements Backing {
    }
}
