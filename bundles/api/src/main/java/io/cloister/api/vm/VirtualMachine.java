package io.cloister.api.vm;

import org.osgi.annotation.versioning.ProviderType;

import io.cloister.api.memory.GuestMemory;

@ProviderType
public interface VirtualMachine {
    String name();

    VmState state();

    /** A human-readable reason for the current state (e.g. why it is paused or failed). */
    String status();

    String backend();

    String engine();

    GuestMemory memory();

    void pause();

    void resume();

    void stop();
}
