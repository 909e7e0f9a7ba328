package io.cloister.cpu.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;

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

    // The names the engine used before the typed layer; derived from the layouts above.
    static final long GET_API_VERSION = Ioctl.KVM_GET_API_VERSION.number;
    static final long CREATE_VM = Ioctl.KVM_CREATE_VM.number;
    static final long CHECK_EXTENSION = Ioctl.KVM_CHECK_EXTENSION.number;
    static final long GET_VCPU_MMAP_SIZE = Ioctl.KVM_GET_VCPU_MMAP_SIZE.number;
    static final long GET_SUPPORTED_CPUID = Ioctl.KVM_GET_SUPPORTED_CPUID.number;
    static final long CREATE_VCPU = Ioctl.KVM_CREATE_VCPU.number;
    static final long SET_TSS_ADDR = Ioctl.KVM_SET_TSS_ADDR.number;
    static final long SET_USER_MEMORY_REGION2 = Ioctl.KVM_SET_USER_MEMORY_REGION2.number;
    static final long RUN = Ioctl.KVM_RUN.number;
    static final long GET_REGS = Ioctl.KVM_GET_REGS.number;
    static final long SET_REGS = Ioctl.KVM_SET_REGS.number;
    static final long GET_SREGS = Ioctl.KVM_GET_SREGS.number;
    static final long SET_SREGS = Ioctl.KVM_SET_SREGS.number;
    static final long SET_CPUID2 = Ioctl.KVM_SET_CPUID2.number;
    static final long ENABLE_CAP = Ioctl.KVM_ENABLE_CAP.number;
    static final long CREATE_GUEST_MEMFD = Ioctl.KVM_CREATE_GUEST_MEMFD.number;

    static final long CAP_USER_MEMORY2 = Cap.KVM_CAP_USER_MEMORY2.number;
    static final long CAP_EXIT_HYPERCALL = Cap.KVM_CAP_EXIT_HYPERCALL.number;
    static final long CAP_GUEST_MEMFD = Cap.KVM_CAP_GUEST_MEMFD.number;
    static final long CAP_MEMORY_ATTRIBUTES = Cap.KVM_CAP_MEMORY_ATTRIBUTES.number;

    static final int EXIT_IO = KVM_EXIT_IO;
    static final int EXIT_HYPERCALL = KVM_EXIT_HYPERCALL;
    static final int EXIT_HLT = KVM_EXIT_HLT;
    static final int EXIT_MMIO = KVM_EXIT_MMIO;
    static final int EXIT_SHUTDOWN = KVM_EXIT_SHUTDOWN;
    static final int EXIT_FAIL_ENTRY = KVM_EXIT_FAIL_ENTRY;
    static final int EXIT_INTR = KVM_EXIT_INTR;
    static final int EXIT_INTERNAL_ERROR = KVM_EXIT_INTERNAL_ERROR;
    static final int EXIT_SYSTEM_EVENT = KVM_EXIT_SYSTEM_EVENT;
    static final int EXIT_MEMORY_FAULT = KVM_EXIT_MEMORY_FAULT;

    static final int MEM_READONLY = KVM_MEM_READONLY;
    static final int MEM_GUEST_MEMFD = KVM_MEM_GUEST_MEMFD;

    static final long RUN_IMMEDIATE_EXIT = KvmLayouts.offset(KvmLayouts.KVM_RUN, "immediate_exit");
    static final long RUN_EXIT_REASON = KvmLayouts.offset(KvmLayouts.KVM_RUN, "exit_reason");
    static final long RUN_UNION = KvmLayouts.offset(KvmLayouts.KVM_RUN, KvmLayouts.EXIT);

    static final int REGS_SIZE = (int) KvmLayouts.KVM_REGS.byteSize();
    static final long REG_RAX = KvmLayouts.offset(KvmLayouts.KVM_REGS, "rax");
    static final long REG_RBX = KvmLayouts.offset(KvmLayouts.KVM_REGS, "rbx");
    static final long REG_RIP = KvmLayouts.offset(KvmLayouts.KVM_REGS, "rip");
    static final long REG_RFLAGS = KvmLayouts.offset(KvmLayouts.KVM_REGS, "rflags");

    static final int SREGS_SIZE = (int) KvmLayouts.KVM_SREGS.byteSize();
    static final long SEG_CS = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "cs");
    static final long SEG_DS = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "ds");
    static final long SEG_ES = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "es");
    static final long SEG_FS = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "fs");
    static final long SEG_GS = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "gs");
    static final long SEG_SS = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "ss");
    static final long SEG_TR = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "tr");
    static final long SEG_LDT = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "ldt");
    static final long SREG_CR0 = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "cr0");
    static final long SREG_CR3 = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "cr3");
    static final long SREG_CR4 = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "cr4");
    static final long SREG_EFER = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "efer");

    private Kvm() {
    }

    /** Writes a kvm_segment at {@code off}. */
    static void segment(MemorySegment sregs, long off, long base, int limit, int selector, int type, boolean code, boolean system) {
        sregs.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, off, base);
        sregs.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, off + 8, limit);
        sregs.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, off + 12, (short) selector);
        sregs.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off + 14, (byte) type);
        sregs.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off + 15, (byte) 1); // present
        sregs.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off + 16, (byte) 0); // dpl
        sregs.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off + 17, (byte) (system ? 0 : 1)); // db
        sregs.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off + 18, (byte) (system ? 0 : 1)); // s
        sregs.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off + 19, (byte) 0); // l
        sregs.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off + 20, (byte) (system ? 0 : 1)); // g
        sregs.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off + 21, (byte) 0); // avl
        sregs.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off + 22, (byte) 0); // unusable
    }

    /** What this kernel offers for private memory, for the log. */
    static String memoryMode() {
        int fd = Sys.open(KvmEngine.DEVICE, Sys.O_RDWR | Sys.O_CLOEXEC);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = Sys.callState(arena);
            int gmem = Sys.ioctl(fd, CHECK_EXTENSION, CAP_GUEST_MEMFD, "KVM_CHECK_EXTENSION(GUEST_MEMFD)", st);
            int attrs = Sys.ioctl(fd, CHECK_EXTENSION, CAP_MEMORY_ATTRIBUTES, "KVM_CHECK_EXTENSION(MEMORY_ATTRIBUTES)", st);
            return attrs == 0
                    ? "guest_memfd " + (gmem > 0 ? "present" : "absent") + ", no KVM_CAP_MEMORY_ATTRIBUTES: private/shared enforced by Cloister in userspace"
                    : "KVM_CAP_MEMORY_ATTRIBUTES=" + attrs + ": private memory could be left to KVM (Cloister still enforces it in userspace)";
        } finally {
            Sys.close(fd);
        }
    }
}
