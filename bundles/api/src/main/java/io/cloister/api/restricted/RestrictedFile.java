package io.cloister.api.restricted;

import java.lang.foreign.MemorySegment;

import org.osgi.annotation.versioning.ProviderType;

/**
 * A guest_memfd-like file: pages only its guest may touch while they are private. All offsets and
 * lengths are page-aligned; a refused call changes nothing.
 */
@ProviderType
public interface RestrictedFile extends AutoCloseable {
    long id();

    /** The VM the file belongs to; it cannot be bound by any other VM. */
    String owner();

    long size();

    /**
     * Binds {@code [offset, offset + length)} of the file to guest-physical {@code gpa} of
     * {@code vm}'s slot {@code slotId}. EINVAL if any page of the range is already bound (alias,
     * partial overlap), if the range passes the end of the file, or if {@code vm} is not the owner.
     */
    Binding bind(String vm, int slotId, long offset, long gpa, long length, InvalidationListener listener);

    /** Converts a range; the bindings covering it are told first. Atomic per call. */
    void convert(long offset, long length, PageState to, ContentRule rule);

    /** Frees a range; it reads as zero when touched again. The bindings covering it are told first. */
    void punch(long offset, long length);

    PageState state(long offset);

    /** Number of private pages in {@code [offset, offset + length)}. */
    long privatePages(long offset, long length);

    /** Host read of shared pages; EACCES (and nothing copied) if any page is private. */
    void hostRead(long offset, MemorySegment dst);

    /** Host write of shared pages; EACCES (and nothing copied) if any page is private. */
    void hostWrite(long offset, MemorySegment src);

    RestrictedStats stats();

    /** Frees every page; EBUSY while any range is still bound. */
    @Override
    void close();
}
