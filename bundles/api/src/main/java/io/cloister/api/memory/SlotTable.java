package io.cloister.api.memory;

import java.util.List;
import org.osgi.annotation.versioning.ProviderType;

/**
 * An immutable snapshot of a VM's memslots. A change to the address space publishes a new table
 * with a higher generation; readers holding an old table keep a consistent (if stale) view.
 */
@ProviderType
public interface SlotTable {
    long generation();

    /** The slot containing {@code gpa}, or {@code null}; O(log n). */
    MemSlot slotAt(long gpa);

    /** All slots in ascending guest-physical order. */
    List<MemSlot> slots();
}
