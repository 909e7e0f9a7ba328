package io.cloister.api.memory;

import java.lang.foreign.MemorySegment;

import org.osgi.annotation.versioning.ProviderType;

import io.cloister.api.restricted.InvalidationListener;
import io.cloister.api.restricted.PageState;

/**
 * The guest's own view of its memory, for its CPU engine only: unlike {@link GuestMemory}'s host
 * access it reaches private pages. It is handed out once, to whoever created the address space
 * (the VMM), which passes it to the engine and to no one else.
 */
@ProviderType
public interface GuestView extends GuestMemoryControl {

    /**
     * Copies guest memory at {@code gpa} into {@code dst}, as a {@code as} access (the guest page
     * tables' C-bit or shared bit). The range must lie in one slot.
     */
    Access read(long gpa, MemorySegment dst, PageState as);

    Access write(long gpa, MemorySegment src, PageState as);

    /** The host memory of a slot that has no restricted backing, for engines' fast paths; null otherwise. */
    MemorySegment sharedSegment(int slotId);

    /**
     * The memory of a slot whatever its backing (host memory, or the restricted pages bound to
     * it), for the engine's fast path; null for an alias of restricted memory.
     */
    MemorySegment guestSegment(int slotId);

    /** Told when restricted pages of this VM change state or are punched. */
    void addInvalidationListener(InvalidationListener listener);

    void removeInvalidationListener(InvalidationListener listener);
}
