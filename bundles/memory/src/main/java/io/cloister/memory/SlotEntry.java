package io.cloister.memory;

import java.lang.foreign.MemorySegment;

import io.cloister.api.memory.MemSlot;
import io.cloister.api.restricted.Binding;
import io.cloister.internal.hostmem.HostMemory;

/**
 * A slot and how its pages are reached: {@code segment} for host memory (owned via
 * {@code mapping}, or borrowed from the slot an alias points into), {@code binding} for
 * restricted memory. Exactly one of segment and binding is set.
 */
record SlotEntry(MemSlot slot, HostMemory.Mapping mapping, MemorySegment segment, Binding binding, int aliasOf) {
    static final int NO_ALIAS = -1;

    SlotEntry movedTo(MemSlot moved, Binding rebound) {
        return new SlotEntry(moved, mapping, segment, rebound, aliasOf);
    }
}
