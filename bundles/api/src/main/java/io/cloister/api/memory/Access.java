package io.cloister.api.memory;

/** The outcome of a guest access through a {@link GuestView}. */
public enum Access {
    /** Done. */
    OK,
    /** A page touched is private and the access shared, or the other way round: KVM_EXIT_MEMORY_FAULT. */
    MEMORY_FAULT,
    /** No RAM there (or a write to read-only memory): the access goes to the MMIO bus. */
    MMIO
}
