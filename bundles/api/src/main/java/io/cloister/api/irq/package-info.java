/**
 * Inner circle: how interrupts flow one way — device line (GSI) → the platform's controllers
 * ({@link io.cloister.api.irq.PlatformInterrupts}: 8259 PIC, I/O APIC) → an
 * {@link io.cloister.api.irq.ApicMessage} → the engine's {@link io.cloister.api.irq.LocalApics} →
 * a vCPU at an instruction boundary. On KVM the kernel's irqchip can play both roles (KVM_CREATE_IRQCHIP,
 * KVM_IRQ_LINE for GSI levels, KVM_SIGNAL_MSI for messages).
 */
@Export
@Version("1.0.0")
package io.cloister.api.irq;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
