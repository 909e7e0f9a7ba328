package io.cloister.api.device;

import java.lang.foreign.MemorySegment;

/** A device's only way to guest memory: shared pages only, as the backend policy allows. */
public interface DmaView {
    /** EACCES if any page is private, EFAULT outside guest memory; nothing copied then. */
    void read(long gpa, MemorySegment dst);

    void write(long gpa, MemorySegment src);
}
