package io.cloister.api.irq;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The platform's interrupt controllers of one VM (8259 PIC pair and I/O APIC), made by the device
 * bus: device lines come in by number (see {@link io.cloister.api.device.InterruptLine}); out go APIC messages to the engine's {@link LocalApics}.
 */
@ProviderType
public interface PlatformInterrupts {
    /**
     * Sets the level of line {@code irq} (0-23): for 0-15 the PIC input and the I/O APIC pin
     * (IRQ 0 on pin 2), for 16-23 the I/O APIC pin only. EINVAL outside.
     */
    void setLevel(int irq, boolean level);

    /** The INTA cycle: the vector of the highest-priority PIC request, now in service (spurious 7/15 if none). */
    int acknowledgeExtInt();

    /** A local APIC's EOI of a level-triggered {@code vector}: the I/O APIC clears remote IRR of pins with it. */
    void endOfInterrupt(int vector);
}
