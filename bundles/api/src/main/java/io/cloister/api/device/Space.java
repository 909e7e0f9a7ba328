package io.cloister.api.device;

/** The address space a device range lives in. */
public enum Space {
    PIO,
    MMIO
}
