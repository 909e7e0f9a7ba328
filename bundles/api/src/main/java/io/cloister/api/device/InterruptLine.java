package io.cloister.api.device;

import org.osgi.annotation.versioning.ProviderType;

/**
 * One interrupt input of the VM's platform, as a device drives it: line n (0-15) is ISA IRQ n,
 * wired to 8259 input n and I/O APIC pin n (IRQ 0 to pin 2, as the MADT's interrupt source
 * override says); lines 16-23 are I/O APIC pins only (virtio-mmio, PCI). Level-triggered devices {@link #set} the level and keep it
 * until the cause is served; edge-triggered ones {@link #pulse}. The platform routes it through its
 * interrupt controllers (8259 PIC, I/O APIC) to a vCPU, which takes it at an instruction boundary
 * when it can. Callable from any thread; never blocks on a vCPU.
 */
@ProviderType
public interface InterruptLine {
    /** Asserts ({@code true}) or deasserts the line. */
    void set(boolean asserted);

    /** One edge: asserted, then deasserted. */
    default void pulse() {
        set(true);
        set(false);
    }
}
