package io.cloister.memory;

import java.lang.foreign.MemorySegment;

import io.cloister.api.memory.MemSlot;
import io.cloister.api.restricted.Binding;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.internal.hostmem.HostMemory;

/** A slot and how its pages are reached; {@code aliasOf} is the slot an alias borrows from. */
record SlotEntry(MemSlot slot, Reach reach, int aliasOf) {
    static final int NO_ALIAS = -1;

    /** How a slot's pages are reached. */
    sealed interface Reach {
        /** Host memory, owned through {@code mapping} (null when borrowed by an alias). */
        record Host(MemorySegment segment, HostMemory.Mapping mapping) implements Reach {
        }

        /** Restricted memory bound exclusively to this slot. */
        record Bound(Binding binding) implements Reach {
        }

        /**
         * An alias of restricted memory: not a second binding (that is refused), but the file's
         * shared path, so it reaches a page only while the page is shared. This is how a VMM keeps
         * SMRAM/PAM aliases of private RAM working for guests whose pages are shared.
         */
        record SharedAlias(RestrictedFile file, long offset) implements Reach {
        }
    }

    SlotEntry movedTo(MemSlot moved, Reach reach) {
        return new SlotEntry(moved, reach, aliasOf);
    }
}
