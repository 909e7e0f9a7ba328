package io.cloister.api.cpu;

import org.osgi.annotation.versioning.ProviderType;

/** One virtual CPU of an {@link EngineVm}, run by one thread. */
@ProviderType
public interface Vcpu extends AutoCloseable {
    int index();

    /** Runs guest code until an exit. */
    Exit run();

    /** Completes the last Io/Mmio read or hypercall with {@code value} (written to the guest register). */
    void complete(long value);

    /**
     * The architectural registers by name (rax..r15, rip, rflags, cr0, cr3, cr4, efer); only
     * meaningful while {@link #run()} is not running (the VMM asks at a safe point).
     */
    java.util.Map<String, Long> registers();

    /** Guest instructions retired so far, or -1 where the engine cannot count them. */
    long instructions();

    /** Makes a running {@link #run()} return {@link Exit.Interrupted} soon; callable from any thread. */
    void requestExit();

    @Override
    void close();
}
