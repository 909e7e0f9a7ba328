package io.cloister.api.restricted;

import java.lang.foreign.MemorySegment;
import org.osgi.annotation.versioning.ProviderType;

/**
 * The guest's own access to a binding, for CPU engines. An access names the state the guest
 * believes the pages have (from its page tables); if any page touched is in the other state,
 * nothing is copied and the engine turns the access into a memory-fault exit.
 */
@ProviderType
public interface GuestPages {
    /** Copies from guest-physical {@code gpa}; false on a private/shared mismatch. EFAULT outside the binding. */
    boolean read(long gpa, MemorySegment dst, PageState as);

    /** Copies to guest-physical {@code gpa}; false on a private/shared mismatch. EFAULT outside the binding. */
    boolean write(long gpa, MemorySegment src, PageState as);
}
