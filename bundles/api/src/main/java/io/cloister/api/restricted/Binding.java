package io.cloister.api.restricted;

import org.osgi.annotation.versioning.ProviderType;

/** A range of a restricted file bound to one VM at one guest-physical range. */
@ProviderType
public interface Binding {
    RestrictedFile file();

    String vm();

    int slotId();

    /** File offset of the first bound byte. */
    long offset();

    long gpa();

    long length();

    /** Guest-side access for the VM's CPU engine. */
    GuestPages guest();

    /**
     * The bound pages themselves, for the VM's CPU engine only (its fast path): the engine checks
     * page state when it fills a translation and drops translations when told of a change.
     */
    java.lang.foreign.MemorySegment guestSegment();

    /** Releases the range so it can be bound again; the pages and their content stay in the file. */
    void unbind();
}
