package io.cloister.api.cpu;

import org.osgi.annotation.versioning.ProviderType;

/**
 * A CPU engine's state for one VM (KVM's VM file descriptor, the emulator's map of decoded code):
 * what its vCPUs share. Made by {@link CpuEngine#createVm}; closing it after its vCPUs releases it.
 */
@ProviderType
public interface EngineVm extends AutoCloseable {
    /**
     * The {@code entry} of {@link #createVcpu} for an application processor that waits for INIT and
     * a start-up IPI: not a 32-bit address, which any other entry is.
     */
    long WAIT_FOR_SIPI = -1;

    /**
     * Creates vCPU {@code index}, entering at {@code entry} in 32-bit protected mode (PVH) with
     * %ebx = {@code startInfo}. An engine with local APICs also takes an {@code entry} of
     * {@link #WAIT_FOR_SIPI} for an application processor (index above 0) that waits for INIT and a
     * start-up IPI, as at power-up; asked again for that index with an entry, it starts the waiting
     * AP there (the START_VCPU hypercall) and returns the same vCPU. The VMM creates the APs that
     * way at boot.
     */
    Vcpu createVcpu(int index, long entry, long startInfo);

    /**
     * Guest memory was written from outside the vCPUs (a device's DMA): an engine that caches
     * decoded guest code drops what the range held before any vCPU runs it again. Callable from
     * any thread.
     */
    void memoryWritten(long gpa, long length);

    /**
     * The local APICs of this VM's vCPUs, where the platform's interrupt controllers deliver; null
     * while this engine takes no interrupts (its guests then run without them).
     */
    default io.cloister.api.irq.LocalApics localApics() {
        return null;
    }

    /**
     * Runs this VM on deterministic time: its one vCPU reports to {@code clock} as it retires
     * instructions instead of the VM's timers following the host's clock. Called before the vCPU is
     * created; false where the engine cannot count instructions exactly (KVM runs on the host's clock).
     */
    default boolean clockByInstructions(InstructionClock clock) {
        return false;
    }

    @Override
    void close();
}
