package io.cloister.api.memory;

import java.lang.foreign.MemorySegment;
import java.util.List;

import org.osgi.annotation.versioning.ProviderType;

/**
 * One VM's guest-physical address space. Slot changes are atomic: a reader sees the table before
 * or after a change, never a mix. The VMM makes changes only while the VM's vCPUs are paused.
 */
@ProviderType
public interface GuestMemory extends AutoCloseable {
    String vmName();

    /** Adds a slot; EEXIST if it overlaps another, EINVAL if unaligned or the backing is refused. */
    MemSlot add(SlotSpec spec);

    /**
     * Adds several slots as one change (one new table, however many slots): all of them or, if any
     * is refused, none.
     */
    List<MemSlot> addAll(List<SlotSpec> specs);

    /** Removes a slot and releases (or unbinds) its backing. ENOENT for an unknown id, EBUSY if aliased. */
    void remove(int slotId);

    /** Moves a slot to a new guest-physical base, keeping its pages. */
    MemSlot move(int slotId, long newGpa);

    /** The current slot table. */
    SlotTable table();

    /**
     * Host access (loader, devices, shell): copies guest memory at {@code gpa} into {@code dst}.
     * EFAULT outside guest memory, EACCES if any page touched is private.
     */
    void read(long gpa, MemorySegment dst);

    /** Host access: copies {@code src} into guest memory at {@code gpa}; same checks as read. */
    void write(long gpa, MemorySegment src);

    /** Bytes of host memory mapped for this address space's own (non-restricted) slots. */
    long mappedBytes();

    /** Releases every slot; later calls fail with EBADF. */
    @Override
    void close();
}
