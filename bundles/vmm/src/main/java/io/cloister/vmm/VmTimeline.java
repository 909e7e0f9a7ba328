package io.cloister.vmm;

import io.cloister.api.device.VmClock;

/**
 * A VM's one clock as the VMM drives it: the host's clock ({@link VmTime}) or the instructions the
 * vCPU retires ({@link InstructionTime}, deterministic mode). Paused and resumed with the VM,
 * closed when it ends.
 */
sealed interface VmTimeline extends VmClock, AutoCloseable permits VmTime, InstructionTime {
    void pause();

    void resume();

    @Override
    void close();
}
