package io.cloister.cpu.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** KVM's ABI on x86-64: ioctl numbers, capabilities, exit reasons, struct offsets (linux/kvm.h). */
final class Kvm {
    static final long GET_API_VERSION = 0xAE00;
    static final long CREATE_VM = 0xAE01;
    static final long CHECK_EXTENSION = 0xAE03;
    static final long GET_VCPU_MMAP_SIZE = 0xAE04;
    static final long GET_SUPPORTED_CPUID = 0xC008AE05L;
    static final long CREATE_VCPU = 0xAE41;
    static final long SET_TSS_ADDR = 0xAE47;
    static final long SET_USER_MEMORY_REGION2 = 0x40A0AE49L;
    static final long RUN = 0xAE80;
    static final long GET_REGS = 0x8090AE81L;
    static final long SET_REGS = 0x4090AE82L;
    static final long GET_SREGS = 0x8138AE83L;
    static final long SET_SREGS = 0x4138AE84L;
    static final long SET_CPUID2 = 0x4008AE90L;
    static final long ENABLE_CAP = 0x4068AEA3L;
    static final long CREATE_GUEST_MEMFD = 0xC040AED4L;

    static final long CAP_USER_MEMORY2 = 231;
    static final long CAP_EXIT_HYPERCALL = 201;
    static final long CAP_GUEST_MEMFD = 234;
    static final long CAP_MEMORY_ATTRIBUTES = 233;

    static final int EXIT_IO = 2;
    static final int EXIT_HYPERCALL = 3;
    static final int EXIT_HLT = 5;
    static final int EXIT_MMIO = 6;
    static final int EXIT_SHUTDOWN = 8;
    static final int EXIT_FAIL_ENTRY = 9;
    static final int EXIT_INTR = 10;
    static final int EXIT_INTERNAL_ERROR = 17;
    static final int EXIT_SYSTEM_EVENT = 24;
    static final int EXIT_MEMORY_FAULT = 39;

    static final int MEM_READONLY = 2;
    static final int MEM_GUEST_MEMFD = 4;

    // struct kvm_run
    static final long RUN_IMMEDIATE_EXIT = 1;
    static final long RUN_EXIT_REASON = 8;
    static final long RUN_UNION = 32;

    // struct kvm_regs: rax rbx rcx rdx rsi rdi rsp rbp r8-r15 rip rflags
    static final int REGS_SIZE = 144;
    static final long REG_RAX = 0;
    static final long REG_RBX = 8;
    static final long REG_RIP = 128;
    static final long REG_RFLAGS = 136;

    // struct kvm_sregs: 8 kvm_segment (24 bytes: cs ds es fs gs ss tr ldt), gdt, idt, cr0...
    static final int SREGS_SIZE = 312;
    static final long SEG_CS = 0;
    static final long SEG_DS = 24;
    static final long SEG_ES = 48;
    static final long SEG_FS = 72;
    static final long SEG_GS = 96;
    static final long SEG_SS = 120;
    static final long SEG_TR = 144;
    static final long SEG_LDT = 168;
    static final long SREG_CR0 = 224;
    static final long SREG_CR3 = 240;
    static final long SREG_CR4 = 248;
    static final long SREG_EFER = 264;

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
