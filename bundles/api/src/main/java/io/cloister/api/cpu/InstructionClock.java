package io.cloister.api.cpu;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Deterministic time, as QEMU's {@code -icount}: the VM's clock advances with the instructions its
 * one vCPU retires instead of with the host's clock, so that what a guest sees of time (and of the
 * interrupts its timers raise) does not depend on the host's speed or load. The VMM implements it;
 * an engine that offers it ({@link EngineVm#clockByInstructions}) calls it on the vCPU's own thread,
 * at instruction boundaries, so every timer fires at the same instruction in every run.
 */
@ProviderType
public interface InstructionClock {
    /**
     * The retired-instruction count at which the next timer falls due; {@link Long#MAX_VALUE} while
     * none is armed. Cheap (one volatile read): the engine reads it at every boundary it checks.
     */
    long nextDeadline();

    /**
     * The vCPU has retired {@code retired} instructions and reached {@link #nextDeadline()}
     * ({@code idle} false), or it is halted with nothing it can take ({@code idle} true: VM time
     * jumps to the next deadline, as QEMU's icount does with sleep=off). Runs the timers due by now,
     * on the calling thread, as the VM's timer thread would have. False when {@code idle} and no
     * timer is armed: then only an outside event (console input, a device) can wake the vCPU.
     */
    boolean reached(long retired, boolean idle);
}
