package io.cloister.api.cpu;

import org.osgi.annotation.versioning.ProviderType;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.memory.GuestView;

/** Runs guest code (emulator or kvm). Registered with service property {@value #PROPERTY}. */
@ProviderType
public interface CpuEngine {
    String PROPERTY = "engine";

    String name();

    /** Whether this engine can run on this host (e.g. /dev/kvm present); a reason if not. */
    String unavailableReason();

    /**
     * The engine's side of one VM, over the guest's own view of its memory; {@code coco} is the
     * backend's CPU semantics (it follows hot swaps). The caller closes it when the VM ends.
     */
    EngineVm createVm(GuestView memory, CocoCpu coco);
}
