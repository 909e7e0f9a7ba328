package io.cloister.api.irq;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The local APICs of a VM's vCPUs, owned by its CPU engine (as KVM's in-kernel LAPIC is): where
 * the platform's interrupt controllers deliver. Callable from any thread; a vCPU halted in HLT
 * wakes when an interrupt it can take arrives.
 */
@ProviderType
public interface LocalApics {
    /** Delivers a message (from the I/O APIC or an MSI) to the local APICs it addresses. */
    void deliver(ApicMessage message);

    /**
     * The legacy 8259 output wired to LINT0 of every local APIC (virtual-wire mode): while it is
     * asserted, an APIC whose LINT0 is unmasked in ExtINT mode takes the vector from
     * {@link PlatformInterrupts#acknowledgeExtInt()}.
     */
    void setExtInt(boolean asserted);

    /**
     * The VM's platform controllers (for the 8259's INTA and level-triggered EOIs) and its clock
     * (the APIC timers run on it, as the PIT does), given by the VMM once the device bus exists and
     * before any vCPU runs. The default ignores them: an implementation with neither needs nothing.
     */
    default void connect(PlatformInterrupts platform, io.cloister.api.device.VmClock clock) {
    }
}
