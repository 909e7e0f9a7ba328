package io.cloister.cpu.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.cloister.cpu.kvm.Kvm.Ioctl;

/**
 * A KVM vCPU, its vCPU ioctls (one method each) and its kvm_run mapping, as rust-vmm's
 * kvm-ioctls has VcpuFd.
 */
final class VcpuFd extends KvmFd {
    /** Owns the kvm_run mapping: munmap when closed. */
    private final Arena arena = Arena.ofShared();
    /** The shared kvm_run page (and the pages after it, where port IO data lies). */
    final KvmRun kvmRun;
    /**
     * errno of KVM_RUN: kept, not allocated per call, since run() is the hot path; only the one
     * thread in run() uses it. Not in {@link #arena}: a close while KVM_RUN holds it must not fail.
     */
    private final MemorySegment runState = Sys.callState(Arena.ofAuto());

    VcpuFd(int fd, int runSize) {
        super(fd);
        try {
            kvmRun = new KvmRun(Sys.mmapShared(fd, runSize, arena));
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * KVM_RUN: runs the guest until an exit; returns kvm_run.exit_reason. A signal or
     * immediate_exit makes it fail with EINTR (a {@link Sys.SysException} with errno 4).
     */
    int run() {
        Sys.ioctl(fd, Ioctl.KVM_RUN.number, 0, "KVM_RUN", runState);
        return kvmRun.exitReason();
    }

    /** KVM_GET_REGS. */
    Regs getRegs() {
        Regs r = new Regs();
        ioctl(Ioctl.KVM_GET_REGS, r.segment, "");
        return r;
    }

    /** KVM_SET_REGS. */
    void setRegs(Regs regs) {
        ioctl(Ioctl.KVM_SET_REGS, regs.segment, "");
    }

    /** KVM_GET_SREGS. */
    Sregs getSregs() {
        Sregs s = new Sregs();
        ioctl(Ioctl.KVM_GET_SREGS, s.segment, "");
        return s;
    }

    /** KVM_SET_SREGS. */
    void setSregs(Sregs sregs) {
        ioctl(Ioctl.KVM_SET_SREGS, sregs.segment, "");
    }

    /** KVM_SET_CPUID2: the CPUID the guest sees. */
    void setCpuid2(Cpuid cpuid) {
        ioctl(Ioctl.KVM_SET_CPUID2, cpuid.segment, "(" + cpuid.nent() + " entries)");
    }

    /**
     * Unmaps kvm_run. A thread still touching it (a late requestExit) gets an
     * IllegalStateException from the closed arena instead of touching unmapped memory.
     */
    @Override
    void closed() {
        arena.close();
    }
}
