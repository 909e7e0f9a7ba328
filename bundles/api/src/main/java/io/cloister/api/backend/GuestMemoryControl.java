package io.cloister.api.backend;

import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.PageState;

/** What a backend policy may do to the memory of the VM it serves. */
public interface GuestMemoryControl {
    String vmName();

    /** Converts guest-physical pages; EFAULT if the range is not restricted guest memory. */
    void convert(long gpa, long length, PageState to, ContentRule rule);

    PageState state(long gpa);
}
