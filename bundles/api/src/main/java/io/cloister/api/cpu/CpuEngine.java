package io.cloister.api.cpu;

import org.osgi.annotation.versioning.ConsumerType;

import io.cloister.api.memory.GuestView;

/** Runs guest code (emulator or kvm). Registered with service property {@value #PROPERTY}. */
@ConsumerType
public interface CpuEngine {
    String PROPERTY = "engine";

    String name();

    /** Whether this engine can run on this host (e.g. /dev/kvm present); a reason if not. */
    String unavailableReason();

    /**
     * Creates vCPU {@code index} of a VM over its guest view, entering at {@code entry} in 32-bit
     * protected mode (PVH) with %ebx = {@code startInfo}; {@code coco} is the backend's CPU view.
     */
    Vcpu createVcpu(GuestView memory, int index, long entry, long startInfo, CocoCpu coco);
}
