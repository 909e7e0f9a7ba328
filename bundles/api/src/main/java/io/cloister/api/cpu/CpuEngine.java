package io.cloister.api.cpu;

import org.osgi.annotation.versioning.ConsumerType;

import io.cloister.api.memory.GuestMemory;

/** Runs guest code (emulator or kvm). Registered with service property {@value #PROPERTY}. */
@ConsumerType
public interface CpuEngine {
    String PROPERTY = "engine";

    String name();

    /** Whether this engine can run on this host (e.g. /dev/kvm present); a reason if not. */
    String unavailableReason();

    /** Creates vCPU {@code index} of a VM over {@code memory}, entering at {@code entry} in 32-bit protected mode (PVH). */
    Vcpu createVcpu(GuestMemory memory, int index, long entry, long startInfo);
}
