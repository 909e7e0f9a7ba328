package io.cloister.api.restricted;

/** The attribute of one page of restricted memory. */
public enum PageState {
    /** The host (VMM, devices) may read and write the page. */
    SHARED,
    /** Only the guest may touch the page; host access is refused. */
    PRIVATE
}
