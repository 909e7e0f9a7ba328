package io.cloister.cpu.kvm;

import static java.lang.foreign.MemoryLayout.paddingLayout;
import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.MemoryLayout.unionLayout;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.StructLayout;
import java.lang.foreign.UnionLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * The structs of linux/kvm.h (and asm/kvm.h of x86-64) that Cloister passes to KVM, as memory
 * layouts: each layout and field carries its C name, and the compiler's padding is written out,
 * so the sizes are those of the header. The ioctl numbers ({@link Kvm.Ioctl}) are computed from
 * these sizes, and KvmLayoutsTest compares every size and offset with the kernel's (and, where gcc
 * and the headers are installed, with what the C compiler makes of the header itself).
 *
 * <p>Only the parts Cloister reads or writes are named; the rest of a struct is named padding of
 * the right size (an anonymous union of C, such as the exit union of kvm_run, gets a Java name,
 * {@link #EXIT}, since a layout path needs one).
 */
final class KvmLayouts {
    private KvmLayouts() {
    }

    static ValueLayout.OfByte u8(String name) {
        return ValueLayout.JAVA_BYTE.withName(name);
    }

    static ValueLayout.OfShort u16(String name) {
        return ValueLayout.JAVA_SHORT.withName(name);
    }

    static ValueLayout.OfInt u32(String name) {
        return ValueLayout.JAVA_INT.withName(name);
    }

    static ValueLayout.OfLong u64(String name) {
        return ValueLayout.JAVA_LONG.withName(name);
    }

    static MemoryLayout array(String name, long count, MemoryLayout element) {
        return sequenceLayout(count, element).withName(name);
    }

    /** struct kvm_regs (asm/kvm.h): the general registers, rip and rflags, 144 bytes. */
    static final StructLayout KVM_REGS = structLayout(
            u64("rax"), u64("rbx"), u64("rcx"), u64("rdx"),
            u64("rsi"), u64("rdi"), u64("rsp"), u64("rbp"),
            u64("r8"), u64("r9"), u64("r10"), u64("r11"),
            u64("r12"), u64("r13"), u64("r14"), u64("r15"),
            u64("rip"), u64("rflags")).withName("kvm_regs");

    /** struct kvm_segment: a segment register as the descriptor cache holds it, 24 bytes. */
    static final StructLayout KVM_SEGMENT = structLayout(
            u64("base"), u32("limit"), u16("selector"), u8("type"),
            u8("present"), u8("dpl"), u8("db"), u8("s"), u8("l"), u8("g"), u8("avl"),
            u8("unusable"), u8("padding")).withName("kvm_segment");

    /** struct kvm_dtable: GDTR or IDTR, 16 bytes. */
    static final StructLayout KVM_DTABLE = structLayout(
            u64("base"), u16("limit"), array("padding", 3, ValueLayout.JAVA_SHORT)).withName("kvm_dtable");

    /** KVM_NR_INTERRUPTS (256) bits. */
    static final int INTERRUPT_BITMAP_WORDS = (256 + 63) / 64;

    /** struct kvm_sregs: segment, descriptor-table and control registers, 312 bytes. */
    static final StructLayout KVM_SREGS = structLayout(
            KVM_SEGMENT.withName("cs"), KVM_SEGMENT.withName("ds"), KVM_SEGMENT.withName("es"),
            KVM_SEGMENT.withName("fs"), KVM_SEGMENT.withName("gs"), KVM_SEGMENT.withName("ss"),
            KVM_SEGMENT.withName("tr"), KVM_SEGMENT.withName("ldt"),
            KVM_DTABLE.withName("gdt"), KVM_DTABLE.withName("idt"),
            u64("cr0"), u64("cr2"), u64("cr3"), u64("cr4"), u64("cr8"), u64("efer"), u64("apic_base"),
            array("interrupt_bitmap", INTERRUPT_BITMAP_WORDS, ValueLayout.JAVA_LONG)).withName("kvm_sregs");

    /** struct kvm_cpuid_entry2: one CPUID leaf/subleaf, 40 bytes. */
    static final StructLayout KVM_CPUID_ENTRY2 = structLayout(
            u32("function"), u32("index"), u32("flags"),
            u32("eax"), u32("ebx"), u32("ecx"), u32("edx"),
            array("padding", 3, ValueLayout.JAVA_INT)).withName("kvm_cpuid_entry2");

    /**
     * struct kvm_cpuid2: a count and a flexible array of entries (of length 0 here, as in C, so the
     * size is the header's 8 bytes that the ioctl numbers encode); {@link #kvmCpuid2(int)} gives the
     * layout with room for n entries.
     */
    static final StructLayout KVM_CPUID2 = kvmCpuid2(0);

    static StructLayout kvmCpuid2(int entries) {
        return structLayout(u32("nent"), u32("padding"), array("entries", entries, KVM_CPUID_ENTRY2)).withName("kvm_cpuid2");
    }

    /** struct kvm_enable_cap: a capability and its four arguments, 104 bytes. */
    static final StructLayout KVM_ENABLE_CAP = structLayout(
            u32("cap"), u32("flags"), array("args", 4, ValueLayout.JAVA_LONG), array("pad", 64, ValueLayout.JAVA_BYTE))
            .withName("kvm_enable_cap");

    /** struct kvm_userspace_memory_region2: a memslot, optionally backed by a guest_memfd, 160 bytes. */
    static final StructLayout KVM_USERSPACE_MEMORY_REGION2 = structLayout(
            u32("slot"), u32("flags"), u64("guest_phys_addr"), u64("memory_size"), u64("userspace_addr"),
            u64("guest_memfd_offset"), u32("guest_memfd"), u32("pad1"), array("pad2", 14, ValueLayout.JAVA_LONG))
            .withName("kvm_userspace_memory_region2");

    /** struct kvm_create_guest_memfd: size and flags of a new guest_memfd, 64 bytes. */
    static final StructLayout KVM_CREATE_GUEST_MEMFD = structLayout(
            u64("size"), u64("flags"), array("reserved", 6, ValueLayout.JAVA_LONG)).withName("kvm_create_guest_memfd");

    // The members of kvm_run's exit union that Cloister reads (KVM_EXIT_<NAME> fills <name>).

    /** KVM_EXIT_FAIL_ENTRY: the VMX/SVM entry failure code. */
    static final StructLayout FAIL_ENTRY = structLayout(
            u64("hardware_entry_failure_reason"), u32("cpu"), paddingLayout(4)).withName("fail_entry");

    /** KVM_EXIT_IO: a port access; the data lies in the kvm_run mapping at data_offset. */
    static final StructLayout IO = structLayout(
            u8("direction"), u8("size"), u16("port"), u32("count"), u64("data_offset")).withName("io");

    /** KVM_EXIT_MMIO: an access to guest-physical memory no memslot backs; data in place. */
    static final StructLayout MMIO = structLayout(
            u64("phys_addr"), array("data", 8, ValueLayout.JAVA_BYTE), u32("len"), u8("is_write"), paddingLayout(3))
            .withName("mmio");

    /**
     * KVM_EXIT_HYPERCALL: nr, six arguments and the return value the guest gets in rax. After ret
     * the kernel has a 32-bit longmode (in a union with a 64-bit flags in newer headers): only
     * longmode is common to all, so the other half is padding here.
     */
    static final StructLayout HYPERCALL = structLayout(
            u64("nr"), array("args", 6, ValueLayout.JAVA_LONG), u64("ret"), u32("longmode"), paddingLayout(4))
            .withName("hypercall");

    /** KVM_EXIT_INTERNAL_ERROR: the suberror and up to 16 words of data. */
    static final StructLayout INTERNAL = structLayout(
            u32("suberror"), u32("ndata"), array("data", 16, ValueLayout.JAVA_LONG)).withName("internal");

    /** KVM_EXIT_MEMORY_FAULT: an access KVM could not resolve against the private/shared state. */
    static final StructLayout MEMORY_FAULT = structLayout(u64("flags"), u64("gpa"), u64("size")).withName("memory_fault");

    /** The Java name of kvm_run's anonymous exit union. */
    static final String EXIT = "exit";

    /** kvm_run's exit union: 256 bytes whatever the members (its padding member says so). */
    static final UnionLayout KVM_RUN_EXIT = unionLayout(FAIL_ENTRY, IO, MMIO, HYPERCALL, INTERNAL, MEMORY_FAULT,
            array("padding", 256, ValueLayout.JAVA_BYTE)).withName(EXIT);

    /** struct kvm_run, the page shared with KVM for each vCPU (its first 2352 bytes on x86-64). */
    static final StructLayout KVM_RUN = structLayout(
            u8("request_interrupt_window"), u8("immediate_exit"), array("padding1", 6, ValueLayout.JAVA_BYTE),
            u32("exit_reason"), u8("ready_for_interrupt_injection"), u8("if_flag"), u16("flags"),
            u64("cr8"), u64("apic_base"),
            KVM_RUN_EXIT,
            u64("kvm_valid_regs"), u64("kvm_dirty_regs"),
            array("s", 2048, ValueLayout.JAVA_BYTE)).withName("kvm_run");

    /** The path of named fields {@code names} in {@code layout}. */
    static PathElement[] path(String... names) {
        return Arrays.stream(names).map(PathElement::groupElement).toArray(PathElement[]::new);
    }

    /** A VarHandle for the field at {@code names} (coordinates: segment, base offset). */
    static VarHandle handle(MemoryLayout layout, String... names) {
        return layout.varHandle(path(names));
    }

    /** The byte offset of the field at {@code names}. */
    static long offset(MemoryLayout layout, String... names) {
        return layout.byteOffset(path(names));
    }
}
