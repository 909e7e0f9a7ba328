package io.cloister.cpu.kvm;

import java.lang.foreign.MemoryLayout;

/**
 * KVM's ABI on x86-64, named as in linux/kvm.h: ioctl numbers (computed from the argument's
 * layout, as the header's _IO/_IOR/_IOW/_IOWR macros do), capabilities, exit reasons and flags.
 */
final class Kvm {
    /** The ioctl type of KVM (KVMIO). */
    static final int KVMIO = 0xAE;
    static final int KVM_API_VERSION = 12;

    /** The direction bits of an ioctl number (asm-generic/ioctl.h), as seen from userspace. */
    enum Dir {
        /** _IO: no argument struct. */
        NONE(0),
        /** _IOW: userspace writes the struct, the kernel reads it. */
        IOW(1),
        /** _IOR: the kernel writes the struct. */
        IOR(2),
        /** _IOWR: both. */
        IOWR(3);

        final int bits;

        Dir(int bits) {
            this.bits = bits;
        }
    }

    /** _IOC(dir, KVMIO, nr, size): the number's fields are dir:2, size:14, type:8, nr:8. */
    static long ioc(Dir dir, int nr, long size) {
        if (size < 0 || size >= 1 << 14 || nr < 0 || nr > 0xff) {
            throw new IllegalArgumentException("no ioctl number for nr 0x" + Integer.toHexString(nr) + " of size " + size);
        }
        return ((long) dir.bits << 30) | (size << 16) | (KVMIO << 8) | nr;
    }

    /** The KVM ioctls Cloister issues; name() is the header's name, used in every error. */
    enum Ioctl {
        KVM_GET_API_VERSION(0x00),
        KVM_CREATE_VM(0x01),
        KVM_CHECK_EXTENSION(0x03),
        KVM_GET_VCPU_MMAP_SIZE(0x04),
        KVM_GET_SUPPORTED_CPUID(Dir.IOWR, 0x05, KvmLayouts.KVM_CPUID2),
        KVM_CREATE_VCPU(0x41),
        KVM_SET_TSS_ADDR(0x47),
        KVM_SET_USER_MEMORY_REGION2(Dir.IOW, 0x49, KvmLayouts.KVM_USERSPACE_MEMORY_REGION2),
        KVM_RUN(0x80),
        KVM_GET_REGS(Dir.IOR, 0x81, KvmLayouts.KVM_REGS),
        KVM_SET_REGS(Dir.IOW, 0x82, KvmLayouts.KVM_REGS),
        KVM_GET_SREGS(Dir.IOR, 0x83, KvmLayouts.KVM_SREGS),
        KVM_SET_SREGS(Dir.IOW, 0x84, KvmLayouts.KVM_SREGS),
        KVM_SET_CPUID2(Dir.IOW, 0x90, KvmLayouts.KVM_CPUID2),
        KVM_ENABLE_CAP(Dir.IOW, 0xa3, KvmLayouts.KVM_ENABLE_CAP),
        KVM_CREATE_GUEST_MEMFD(Dir.IOWR, 0xd4, KvmLayouts.KVM_CREATE_GUEST_MEMFD);

        /** The request number passed to ioctl(2). */
        final long number;
        /** The struct the argument points to, or null for an integer argument (_IO). */
        final MemoryLayout argument;

        Ioctl(int nr) {
            this(Dir.NONE, nr, null);
        }

        Ioctl(Dir dir, int nr, MemoryLayout argument) {
            this.number = ioc(dir, nr, argument == null ? 0 : argument.byteSize());
            this.argument = argument;
        }
    }

    /** The capabilities Cloister asks about or enables (KVM_CAP_*). */
    enum Cap {
        KVM_CAP_EXIT_HYPERCALL(201),
        KVM_CAP_USER_MEMORY2(231),
        KVM_CAP_MEMORY_ATTRIBUTES(233),
        KVM_CAP_GUEST_MEMFD(234);

        final int number;

        Cap(int number) {
            this.number = number;
        }
    }

    // kvm_run.exit_reason
    static final int KVM_EXIT_IO = 2;
    static final int KVM_EXIT_HYPERCALL = 3;
    static final int KVM_EXIT_HLT = 5;
    static final int KVM_EXIT_MMIO = 6;
    static final int KVM_EXIT_SHUTDOWN = 8;
    static final int KVM_EXIT_FAIL_ENTRY = 9;
    static final int KVM_EXIT_INTR = 10;
    static final int KVM_EXIT_INTERNAL_ERROR = 17;
    static final int KVM_EXIT_SYSTEM_EVENT = 24;
    static final int KVM_EXIT_MEMORY_FAULT = 39;

    /** kvm_run.io.direction of an OUT. */
    static final int KVM_EXIT_IO_OUT = 1;
    /** kvm_run.memory_fault.flags: the access was to private memory. */
    static final long KVM_MEMORY_EXIT_FLAG_PRIVATE = 1L << 3;

    // kvm_userspace_memory_region2.flags
    static final int KVM_MEM_READONLY = 1 << 1;
    static final int KVM_MEM_GUEST_MEMFD = 1 << 2;

    /** The hypercall a guest uses to convert pages (linux/kvm_para.h); KVM_CAP_EXIT_HYPERCALL takes a bitmask of them. */
    static final int KVM_HC_MAP_GPA_RANGE = 12;

    private Kvm() {
    }
}
