package io.cloister.api.irq;

/** How a local APIC takes a message (Intel SDM vol. 3, 11.6.1: ICR and I/O APIC redirection entries). */
public enum DeliveryMode {
    FIXED,
    LOWEST_PRIORITY,
    SMI,
    NMI,
    INIT,
    STARTUP,
    EXTINT;

    /** From the three-bit field of an ICR, redirection entry or MSI data word; null for the reserved value 3. */
    public static DeliveryMode of(int bits) {
        return switch (bits & 7) {
            case 0 -> FIXED;
            case 1 -> LOWEST_PRIORITY;
            case 2 -> SMI;
            case 4 -> NMI;
            case 5 -> INIT;
            case 6 -> STARTUP;
            case 7 -> EXTINT;
            default -> null;
        };
    }
}
