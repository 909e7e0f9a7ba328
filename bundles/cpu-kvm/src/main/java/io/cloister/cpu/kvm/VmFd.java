package io.cloister.cpu.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import io.cloister.cpu.kvm.Kvm.Cap;
import io.cloister.cpu.kvm.Kvm.Ioctl;

/** A KVM VM and its VM ioctls (one method each), as rust-vmm's kvm-ioctls has VmFd. */
final class VmFd extends KvmFd {
    private static final VarHandle CAP = KvmLayouts.handle(KvmLayouts.KVM_ENABLE_CAP, "cap");
    private static final long CAP_ARGS = KvmLayouts.offset(KvmLayouts.KVM_ENABLE_CAP, "args");

    private static final VarHandle SLOT = region("slot");
    private static final VarHandle FLAGS = region("flags");
    private static final VarHandle GUEST_PHYS_ADDR = region("guest_phys_addr");
    private static final VarHandle MEMORY_SIZE = region("memory_size");
    private static final VarHandle USERSPACE_ADDR = region("userspace_addr");
    private static final VarHandle GUEST_MEMFD_OFFSET = region("guest_memfd_offset");
    private static final VarHandle GUEST_MEMFD = region("guest_memfd");

    private static final VarHandle GMEM_SIZE = KvmLayouts.handle(KvmLayouts.KVM_CREATE_GUEST_MEMFD, "size");
    private static final VarHandle GMEM_FLAGS = KvmLayouts.handle(KvmLayouts.KVM_CREATE_GUEST_MEMFD, "flags");

    private static VarHandle region(String field) {
        return KvmLayouts.handle(KvmLayouts.KVM_USERSPACE_MEMORY_REGION2, field);
    }

    /**
     * A memslot (struct kvm_userspace_memory_region2): guest-physical range, the host memory behind
     * it and, with KVM_MEM_GUEST_MEMFD in flags, the guest_memfd range for its private pages. A
     * size of 0 deletes the slot.
     */
    record MemoryRegion2(int slot, int flags, long guestPhysAddr, long memorySize, long userspaceAddr, long guestMemfdOffset,
            int guestMemfd) {
        /** A slot without guest_memfd. */
        MemoryRegion2(int slot, int flags, long guestPhysAddr, long memorySize, long userspaceAddr) {
            this(slot, flags, guestPhysAddr, memorySize, userspaceAddr, 0, 0);
        }
    }

    /** The size of each vCPU's kvm_run mapping (KVM_GET_VCPU_MMAP_SIZE of the system fd). */
    private final int runSize;

    VmFd(int fd, int runSize) {
        super(fd);
        this.runSize = runSize;
    }

    /** KVM_SET_TSS_ADDR: three pages of guest-physical space Intel's real-mode emulation needs. */
    void setTssAddr(long gpa) {
        ioctl(Ioctl.KVM_SET_TSS_ADDR, gpa, "(0x" + Long.toHexString(gpa) + ")");
    }

    /** KVM_ENABLE_CAP with up to four arguments. */
    void enableCap(Cap cap, long... args) {
        if (args.length > 4) {
            throw new IllegalArgumentException("kvm_enable_cap takes 4 arguments, given " + args.length);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(KvmLayouts.KVM_ENABLE_CAP);
            CAP.set(s, 0L, cap.number);
            MemorySegment.copy(args, 0, s, java.lang.foreign.ValueLayout.JAVA_LONG, CAP_ARGS, args.length);
            ioctl(Ioctl.KVM_ENABLE_CAP, s, "(" + cap.name() + ")");
        }
    }

    /** KVM_SET_USER_MEMORY_REGION2: creates, changes or (size 0) deletes a memslot. */
    void setUserMemoryRegion2(MemoryRegion2 r) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(KvmLayouts.KVM_USERSPACE_MEMORY_REGION2);
            SLOT.set(s, 0L, r.slot());
            FLAGS.set(s, 0L, r.flags());
            GUEST_PHYS_ADDR.set(s, 0L, r.guestPhysAddr());
            MEMORY_SIZE.set(s, 0L, r.memorySize());
            USERSPACE_ADDR.set(s, 0L, r.userspaceAddr());
            GUEST_MEMFD_OFFSET.set(s, 0L, r.guestMemfdOffset());
            GUEST_MEMFD.set(s, 0L, r.guestMemfd());
            ioctl(Ioctl.KVM_SET_USER_MEMORY_REGION2, s, "(slot " + r.slot() + ": 0x" + Long.toHexString(r.memorySize())
                    + " bytes at 0x" + Long.toHexString(r.guestPhysAddr()) + ")");
        }
    }

    /** KVM_CREATE_GUEST_MEMFD: a new guest_memfd of {@code size} bytes bound to this VM; its fd. */
    int createGuestMemfd(long size, long flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(KvmLayouts.KVM_CREATE_GUEST_MEMFD);
            GMEM_SIZE.set(s, 0L, size);
            GMEM_FLAGS.set(s, 0L, flags);
            return ioctl(Ioctl.KVM_CREATE_GUEST_MEMFD, s, "(0x" + Long.toHexString(size) + " bytes)");
        }
    }

    /** KVM_CREATE_VCPU with this id, its kvm_run mapped. */
    VcpuFd createVcpu(int id) {
        int vcpu = ioctl(Ioctl.KVM_CREATE_VCPU, id, "(" + id + ")");
        try {
            return new VcpuFd(vcpu, runSize);
        } catch (RuntimeException | Error e) {
            Sys.close(vcpu);
            throw e;
        }
    }
}
