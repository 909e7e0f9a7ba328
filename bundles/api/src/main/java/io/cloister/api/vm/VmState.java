package io.cloister.api.vm;

public enum VmState {
    CREATED,
    RUNNING,
    PAUSED,
    STOPPED,
    FAILED
}
