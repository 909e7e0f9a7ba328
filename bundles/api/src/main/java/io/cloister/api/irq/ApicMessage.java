package io.cloister.api.irq;

/**
 * An interrupt message to local APICs, as an I/O APIC redirection entry, an MSI or an IPI carries
 * it: destination APIC ID (physical) or logical mask, vector, delivery mode, trigger mode.
 */
public record ApicMessage(int destination, boolean logicalDestination, int vector, DeliveryMode mode, boolean levelTriggered) {
    /** Physical destination 0xff (xAPIC) or 0xffffffff (x2APIC): every local APIC. */
    public boolean broadcast() {
        return !logicalDestination && (destination == 0xff || destination == -1);
    }
}
