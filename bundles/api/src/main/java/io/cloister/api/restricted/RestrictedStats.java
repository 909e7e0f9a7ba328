package io.cloister.api.restricted;

/**
 * Page accounting. {@code privatePages + sharedPages} is the number of pages of open files;
 * {@code allocatedPages} counts pages holding host memory, {@code punchedPages} those freed by a
 * punch and not touched since.
 */
public record RestrictedStats(long files, long bindings, long allocatedPages, long privatePages,
        long sharedPages, long punchedPages) {
}
