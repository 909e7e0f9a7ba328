package io.cloister.api.memory;

import java.lang.foreign.MemorySegment;

import org.osgi.annotation.versioning.ProviderType;

import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.PageState;

/**
 * Control of one VM's memory: page states, conversions and the hardware's own view of content.
 * Inner circle only (the VMM, its CPU engine, its backend policy): policies model hardware, so
 * they may see content the host may not ({@link #readContent}); they never hand it out as such.
 * No type that device bundles or management clients receive leads here.
 */
@ProviderType
public interface GuestMemoryControl {
    String vmName();

    SlotTable table();

    /** State of the page at {@code gpa}; EFAULT if it is not restricted memory. */
    PageState state(long gpa);

    /** Private pages of the whole VM. */
    long privatePages();

    /**
     * Converts {@code [gpa, gpa + length)}, which must lie in one restricted slot (EFAULT
     * otherwise, EINVAL if unaligned); atomic, covering bindings notified.
     */
    void convert(long gpa, long length, PageState to, ContentRule rule);

    /** Copies guest memory whatever its state: the hardware's own view, for policies only. */
    void readContent(long gpa, MemorySegment dst);
}
