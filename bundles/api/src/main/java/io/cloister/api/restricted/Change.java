package io.cloister.api.restricted;

/** Why a bound range was invalidated. */
public enum Change {
    TO_PRIVATE,
    TO_SHARED,
    /** The pages were freed; they read as zero when touched again. */
    PUNCHED
}
