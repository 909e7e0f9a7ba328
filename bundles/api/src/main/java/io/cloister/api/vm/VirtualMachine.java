package io.cloister.api.vm;

import java.lang.foreign.MemorySegment;

import org.osgi.annotation.versioning.ProviderType;


/**
 * One VM as management clients (shell, REST API, tools) see it: state, counters and commands.
 * Nothing here leads to memory control; {@link #hostRead} is the host's view the backend allows.
 */
@ProviderType
public interface VirtualMachine {
    String name();

    VmState state();

    /** A human-readable reason for the current state (e.g. why it is paused or failed). */
    String status();

    /** The backend the VM is configured for (it may be waiting for that policy to appear). */
    String backend();

    String engine();

    /** The guest-physical memory map (empty before the VM's memory exists). */
    java.util.List<MemoryRegion> memoryMap();

    /** Pages of guest RAM, and how many of them are private now. */
    long totalPages();

    long privatePages();

    /**
     * Host read of guest memory (devices' DMA, the shell, dumps) as the backend allows: shared
     * pages as they are, private pages refused (EACCES) or, under SEV, as ciphertext.
     */
    void hostRead(long gpa, MemorySegment dst);

    /**
     * Moves the VM to another backend at a safe point; throws (EINVAL, ENOENT) and keeps the
     * current backend if that one is unknown or refuses the VM's memory state.
     */
    void switchBackend(String backend);

    /** The VM's recent events (state changes, swaps, devices), oldest first, with times. */
    java.util.List<String> events();

    /** The devices on the VM's bus, one line each (empty before the guest boots). */
    java.util.List<String> devices();

    /**
     * vCPU 0's registers and the other vCPUs' rip, read at a safe point (empty before the guest
     * boots). EACCES under a backend that keeps vCPU state from the host (SEV-SNP, TDX, pKVM).
     */
    java.util.Map<String, Long> registers();

    /** The vCPUs configured; the guest starts those beyond the first. */
    default int vcpus() {
        return 1;
    }

    /** The vCPUs started so far (0 before the guest boots). */
    default int startedVcpus() {
        return 0;
    }

    /** Guest instructions retired so far (-1 where the engine cannot count), and exits taken. */
    long instructions();

    long exits();

    /**
     * The exits counted so far by kind ("io", "mmio", "hypercall", "halt", ... as the engine
     * reports them), in a stable order; empty where the VMM does not count them.
     */
    default java.util.Map<String, Long> exitsByKind() {
        return java.util.Map.of();
    }

    /**
     * The VM's other counters by name, in a stable order: backend swaps, page conversions the
     * guest asked for ("conversions", "converted_pages"), and its RAM's "punched_pages" and
     * "allocated_pages"; empty where the VMM does not count them.
     */
    default java.util.Map<String, Long> counters() {
        return java.util.Map.of();
    }

    /**
     * Types Ctrl-Alt-Del into the guest through its keyboard controller (Firecracker's
     * SendCtrlAltDel): the guest decides what follows (Linux's init reboots). EBUSY before the
     * guest runs or while the controller cannot take the keys; EOPNOTSUPP without a keyboard.
     */
    default void sendCtrlAltDel() {
        throw new io.cloister.api.CloisterException(io.cloister.api.Errno.EOPNOTSUPP, "VM " + name() + " has no keyboard");
    }

    void pause();

    void resume();

    void stop();
}
