package io.cloister.api.device;

import java.lang.foreign.MemorySegment;

import org.osgi.annotation.versioning.ProviderType;

/** A device's only way to guest memory: shared pages only, as the backend policy allows. */
@ProviderType
public interface DmaView {
    /** EACCES if any page is private, EFAULT outside guest memory; nothing copied then. */
    void read(long gpa, MemorySegment dst);

    /** EACCES if any page is private, EFAULT outside guest memory; nothing copied then. */
    void write(long gpa, MemorySegment src);
}
