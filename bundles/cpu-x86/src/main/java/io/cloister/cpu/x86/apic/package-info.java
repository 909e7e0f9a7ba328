/**
 * The local APICs the x86 engines own (as KVM's in-kernel LAPIC): per-vCPU register state, timer,
 * IPIs and the acceptance side a vCPU loop asks at instruction boundaries. Bundle-private: the
 * platform reaches it only through {@link io.cloister.api.irq.LocalApics}.
 */
package io.cloister.cpu.x86.apic;
