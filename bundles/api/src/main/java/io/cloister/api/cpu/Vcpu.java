package io.cloister.api.cpu;

import org.osgi.annotation.versioning.ProviderType;

/** One virtual CPU, run by one thread. */
@ProviderType
public interface Vcpu extends AutoCloseable {
    int index();

    /** Runs guest code until an exit. */
    Exit run();

    /** Completes the last Io/Mmio read or hypercall with {@code value} (written to the guest register). */
    void complete(long value);

    /** Guest instructions retired so far, or -1 where the engine cannot count them. */
    long instructions();

    /** Makes a running {@link #run()} return {@link Exit.Interrupted} soon; callable from any thread. */
    void requestExit();

    @Override
    void close();
}
