package io.cloister.api.restricted;

import org.osgi.annotation.versioning.ProviderType;

/** Creates restricted-memory files and accounts for all of them. */
@ProviderType
public interface RestrictedMemoryProvider {
    /** A file of {@code size} bytes (page-aligned, positive) owned by {@code ownerVm}, every page in {@code initial} state. */
    RestrictedFile create(String ownerVm, long size, PageState initial);

    /** Totals over all open files. */
    RestrictedStats stats();
}
