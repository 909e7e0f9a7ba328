package io.cloister.internal.boot;

import java.util.List;

/**
 * What a guest kernel is told at boot, the same for every protocol: how it is entered, the memory
 * map, where its command line, initrd and ACPI tables are. A loader per protocol (PVH ELF, Linux
 * bzImage) says where the kernel goes and how it is entered; {@link BootLayout} completes the
 * description and writes it in the protocol's own structure (start_info or boot_params).
 *
 * @param entry the CPU state the kernel starts in
 * @param memoryMap E820-typed ranges, ascending
 * @param kernelEnd the end of the memory the kernel uses (its image, bss or decompression buffer)
 * @param initrdAddr the initrd's guest-physical address, 0 with none
 * @param rsdp the ACPI RSDP's guest-physical address, 0 with no tables
 */
public record BootDescription(Protocol protocol, EntryState entry, List<MemoryRange> memoryMap, String cmdline, long cmdlineAddr,
        long kernelEnd, long initrdAddr, long initrdSize, long rsdp) {
    public BootDescription {
        memoryMap = List.copyOf(memoryMap);
    }

    /** Which boot protocol a kernel image speaks. */
    public enum Protocol {
        /** An ELF with the Xen PVH entry note: 32-bit protected mode, %ebx = hvm_start_info. */
        PVH,
        /** A Linux bzImage (boot protocol 2.12 or later): 64-bit entry, %rsi = boot_params. */
        BZIMAGE
    }

    /**
     * The CPU state at the kernel's first instruction: 32-bit protected mode with paging off and
     * {@code pointer} in %ebx (PVH), or 64-bit mode on identity-mapped page tables with
     * {@code pointer} in %rsi (the bzImage's 64-bit entry).
     */
    public record EntryState(boolean longMode, long rip, long pointer) {
    }

    /** A range of the memory map, with its E820 type. */
    public record MemoryRange(long base, long length, int type) {
        public static final int RAM = 1;
        public static final int RESERVED = 2;

        public long end() {
            return base + length;
        }
    }
}
