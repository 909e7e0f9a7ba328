package io.cloister.api.memory;

/** What a memslot is for; backends use it to accept or refuse a memory layout. */
public enum SlotKind {
    /** Ordinary guest RAM. */
    RAM,
    /** Read-only memory (firmware, option ROM). */
    ROM,
    /** An SMM/SMRAM window that aliases pages of another slot (legacy firmware only). */
    SMRAM_ALIAS,
    /** A legacy PAM shadow window that aliases pages of another slot. */
    PAM_ALIAS
}
