package io.cloister.internal.boot;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import io.cloister.api.memory.GuestMemory;
import io.cloister.internal.acpi.AcpiTables;
import io.cloister.internal.boot.BootDescription.MemoryRange;

/**
 * The one place that lays a boot out in guest memory: the fixed low areas, the initrd at the top
 * of RAM, the memory map, and the boot information in the protocol's structure.
 *
 * <pre>
 * 0x1000 - 0x6fff  identity page tables (PML4, PDPT, 4 page directories: 4 GiB in 2 MiB pages)
 * 0x7000 - 0x7fff  PVH hvm_start_info (memory map at 0x7040, module list at 0x7800), or bzImage boot_params
 * 0x8000 - 0x8fff  command line
 * 0x9000 - 0x90ff  GDT for the 64-bit entry and the trampoline that enters it
 * 0xe0000 - 0xfffff ACPI tables (RSDP first)
 * </pre>
 * Both areas are reserved in the memory map. The engines start a vCPU only in 32-bit protected
 * mode (the PVH state, %ebx = an argument); a bzImage's 64-bit entry is reached through the
 * trampoline, which turns on PAE, EFER.LME and paging on the page tables above, loads a GDT with
 * the boot protocol's selectors (__BOOT_CS 0x10, __BOOT_DS 0x18) and jumps to the kernel with
 * %rsi = boot_params, as the boot protocol's 64-bit section asks.
 */
final class BootLayout {
    static final long PML4 = 0x1000;
    static final long PDPT = 0x2000;
    static final long PD = 0x3000;
    static final long START_INFO = 0x7000;
    static final long BOOT_PARAMS = START_INFO;
    static final long MEMMAP = 0x7040;
    static final int MAX_MEMMAP = (0x7800 - 0x7040) / 24;
    static final long MODLIST = 0x7800;
    static final long CMDLINE = 0x8000;
    static final int MAX_CMDLINE = 4095;
    static final long GDT = 0x9000;
    static final long GDT_DESC = 0x9020;
    static final long TRAMPOLINE = 0x9040;
    static final long BOOT_AREA_START = 0x1000;
    static final long BOOT_AREA_END = 0xa000;
    static final long LOW_RAM_END = 0x9fc00;
    static final long ACPI_START = 0xe0000;
    static final long HIGH_RAM = 0x100000;
    static final int HVM_START_MAGIC = 0x336ec578;
    static final int BOOT_CS = 0x10;
    static final int BOOT_DS = 0x18;

    private BootLayout() {
    }

    /** The ranges no kernel or initrd may use in a VM of {@code ramSize} bytes: the boot area, and the ACPI area when there are tables. */
    static List<long[]> fixedAreas(long ramSize) {
        return hasAcpi(ramSize) ? List.of(new long[] {BOOT_AREA_START, BOOT_AREA_END}, new long[] {ACPI_START, HIGH_RAM})
                : List.of(new long[] {BOOT_AREA_START, BOOT_AREA_END});
    }

    /** ACPI tables live below 1 MiB, in the legacy BIOS area: a guest needs at least that much RAM to have them. */
    static boolean hasAcpi(long ramSize) {
        return ramSize >= HIGH_RAM;
    }

    /** RAM minus the reserved areas, ascending, E820-typed. */
    static List<MemoryRange> memoryMap(long ramSize) {
        List<MemoryRange> map = new ArrayList<>();
        map.add(new MemoryRange(0, BOOT_AREA_START, MemoryRange.RAM));
        map.add(new MemoryRange(BOOT_AREA_START, BOOT_AREA_END - BOOT_AREA_START, MemoryRange.RESERVED));
        if (ramSize > BOOT_AREA_END) {
            map.add(new MemoryRange(BOOT_AREA_END, Math.min(ramSize, LOW_RAM_END) - BOOT_AREA_END, MemoryRange.RAM));
        }
        if (hasAcpi(ramSize)) {
            map.add(new MemoryRange(ACPI_START, HIGH_RAM - ACPI_START, MemoryRange.RESERVED));
        }
        if (ramSize > HIGH_RAM) {
            map.add(new MemoryRange(HIGH_RAM, ramSize - HIGH_RAM, MemoryRange.RAM));
        }
        return map;
    }

    /**
     * Where an initrd of {@code size} bytes goes: page-aligned at the top of RAM below the kernel's
     * limit (where Linux boot loaders put it, far from the kernel's decompression), or a one-line
     * refusal if it does not fit above the kernel.
     */
    static long placeInitrd(String name, long size, Kernel kernel, long ramSize) {
        long limit = Math.min(Math.min(ramSize, kernel.initrdLimit()), 1L << 32);
        long floor = (kernel.end() + 0xfff) & ~0xfffL;
        long addr = (limit - size) & ~0xfffL;
        if (size > limit || addr < floor) {
            throw Boot.badInitrd(name, String.format("%d bytes does not fit between the kernel's end (0x%x) and 0x%x:"
                    + " give the guest more memory", size, floor, limit));
        }
        return addr;
    }

    /** Writes the boot information the description names (after the kernel, initrd and tables are in place). */
    static void write(GuestMemory memory, BootDescription d, Kernel kernel, AcpiTables.Tables acpi) {
        if (acpi != null) {
            memory.write(acpi.base(), MemorySegment.ofArray(acpi.bytes()));
        }
        MemorySegment area = Arena.ofAuto().allocate(BOOT_AREA_END - BOOT_AREA_START);
        switch (d.protocol()) {
            case PVH -> startInfo(area, d);
            case BZIMAGE -> bootParams(area, d, kernel.setupHeader());
        }
        byte[] cmd = d.cmdline().getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(cmd, 0, area, ValueLayout.JAVA_BYTE, CMDLINE - BOOT_AREA_START, cmd.length);
        if (d.entry().longMode()) {
            pageTables(area);
            trampoline(area, d.entry().rip());
        }
        memory.write(BOOT_AREA_START, area);
    }

    /** hvm_start_info version 1 (Xen's arch-x86/hvm/start_info.h), its memory map and module list. */
    private static void startInfo(MemorySegment a, BootDescription d) {
        long si = START_INFO - BOOT_AREA_START;
        a.set(ValueLayout.JAVA_INT, si, HVM_START_MAGIC);
        a.set(ValueLayout.JAVA_INT, si + 4, 1); // version
        if (d.initrdSize() > 0) {
            a.set(ValueLayout.JAVA_INT, si + 12, 1); // nr_modules
            a.set(ValueLayout.JAVA_LONG, si + 16, MODLIST);
            long m = MODLIST - BOOT_AREA_START;
            a.set(ValueLayout.JAVA_LONG, m, d.initrdAddr()); // hvm_modlist_entry: paddr, size, cmdline_paddr, reserved
            a.set(ValueLayout.JAVA_LONG, m + 8, d.initrdSize());
        }
        a.set(ValueLayout.JAVA_LONG, si + 24, CMDLINE);
        a.set(ValueLayout.JAVA_LONG, si + 32, d.rsdp());
        a.set(ValueLayout.JAVA_LONG, si + 40, MEMMAP);
        a.set(ValueLayout.JAVA_INT, si + 48, d.memoryMap().size());
        for (int i = 0; i < d.memoryMap().size(); i++) {
            MemoryRange r = d.memoryMap().get(i);
            long e = MEMMAP - BOOT_AREA_START + i * 24L; // hvm_memmap_table_entry: addr, size, type, reserved
            a.set(ValueLayout.JAVA_LONG, e, r.base());
            a.set(ValueLayout.JAVA_LONG, e + 8, r.length());
            a.set(ValueLayout.JAVA_INT, e + 16, r.type());
        }
    }

    /**
     * The zero page (Linux arch/x86/include/uapi/asm/bootparam.h): the kernel's setup header
     * copied from its image, then what the boot loader fills in (boot.rst, "Details of header fields").
     */
    private static void bootParams(MemorySegment a, BootDescription d, byte[] header) {
        long bp = BOOT_PARAMS - BOOT_AREA_START;
        MemorySegment.copy(header, 0, a, ValueLayout.JAVA_BYTE, bp + 0x1f1, header.length);
        a.set(ValueLayout.JAVA_BYTE, bp + 0x210, (byte) 0xff); // type_of_loader: undefined boot loader
        a.set(ValueLayout.JAVA_INT_UNALIGNED, bp + 0x250, 0); // setup_data: none
        a.set(ValueLayout.JAVA_INT_UNALIGNED, bp + 0x254, 0);
        a.set(ValueLayout.JAVA_INT_UNALIGNED, bp + 0x228, (int) CMDLINE); // cmd_line_ptr
        a.set(ValueLayout.JAVA_INT_UNALIGNED, bp + 0x218, (int) d.initrdAddr()); // ramdisk_image
        a.set(ValueLayout.JAVA_INT_UNALIGNED, bp + 0x21c, (int) d.initrdSize()); // ramdisk_size
        a.set(ValueLayout.JAVA_INT_UNALIGNED, bp + 0x0c0, (int) (d.initrdAddr() >>> 32)); // ext_ramdisk_image
        a.set(ValueLayout.JAVA_INT_UNALIGNED, bp + 0x0c4, (int) (d.initrdSize() >>> 32)); // ext_ramdisk_size
        a.set(ValueLayout.JAVA_LONG_UNALIGNED, bp + 0x070, d.rsdp()); // acpi_rsdp_addr
        a.set(ValueLayout.JAVA_BYTE, bp + 0x1e8, (byte) d.memoryMap().size()); // e820_entries
        for (int i = 0; i < d.memoryMap().size(); i++) {
            MemoryRange r = d.memoryMap().get(i);
            long e = bp + 0x2d0 + i * 20L; // boot_e820_entry: addr, size, type (packed)
            a.set(ValueLayout.JAVA_LONG_UNALIGNED, e, r.base());
            a.set(ValueLayout.JAVA_LONG_UNALIGNED, e + 8, r.length());
            a.set(ValueLayout.JAVA_INT_UNALIGNED, e + 16, r.type());
        }
    }

    /** PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 2 MiB pages: the first 4 GiB, identity-mapped, writable. */
    private static void pageTables(MemorySegment a) {
        a.set(ValueLayout.JAVA_LONG, PML4 - BOOT_AREA_START, PDPT | 3);
        for (int i = 0; i < 4; i++) {
            a.set(ValueLayout.JAVA_LONG, PDPT - BOOT_AREA_START + i * 8L, (PD + i * 0x1000L) | 3);
        }
        for (long j = 0; j < 2048; j++) {
            a.set(ValueLayout.JAVA_LONG, PD - BOOT_AREA_START + j * 8, (j << 21) | 0x83); // present, writable, 2 MiB
        }
    }

    /**
     * The GDT (null, null, 64-bit code at 0x10, flat data at 0x18) and the code that goes from the
     * engines' 32-bit entry state to the kernel's 64-bit entry. Encoded by hand; BootLayoutTest
     * disassembles it with objdump when objdump is there.
     */
    private static void trampoline(MemorySegment a, long entry) {
        a.set(ValueLayout.JAVA_LONG, GDT - BOOT_AREA_START + BOOT_CS, 0x00af9a000000ffffL); // __BOOT_CS: 64-bit code
        a.set(ValueLayout.JAVA_LONG, GDT - BOOT_AREA_START + BOOT_DS, 0x00cf92000000ffffL); // __BOOT_DS: 4 GiB data
        a.set(ValueLayout.JAVA_SHORT, GDT_DESC - BOOT_AREA_START, (short) 0x1f);
        a.set(ValueLayout.JAVA_INT_UNALIGNED, GDT_DESC - BOOT_AREA_START + 2, (int) GDT);
        byte[] code32 = {
                (byte) 0x89, (byte) 0xde, // mov %ebx,%esi: the boot_params the VMM passes in %ebx
                (byte) 0xb8, 0x00, 0x10, 0x00, 0x00, // mov $PML4,%eax
                0x0f, 0x22, (byte) 0xd8, // mov %eax,%cr3
                0x0f, 0x20, (byte) 0xe0, // mov %cr4,%eax
                (byte) 0x83, (byte) 0xc8, 0x20, // or $0x20,%eax: PAE
                0x0f, 0x22, (byte) 0xe0, // mov %eax,%cr4
                (byte) 0xb9, (byte) 0x80, 0x00, 0x00, (byte) 0xc0, // mov $0xc0000080,%ecx: EFER
                0x0f, 0x32, // rdmsr
                0x0d, 0x00, 0x01, 0x00, 0x00, // or $0x100,%eax: LME
                0x0f, 0x30, // wrmsr
                0x0f, 0x20, (byte) 0xc0, // mov %cr0,%eax
                0x0d, 0x01, 0x00, 0x00, (byte) 0x80, // or $0x80000001,%eax: PG, PE
                0x0f, 0x22, (byte) 0xc0, // mov %eax,%cr0
                0x0f, 0x01, 0x15, 0x20, (byte) 0x90, 0x00, 0x00, // lgdt GDT_DESC
                (byte) 0xea, 0, 0, 0, 0, BOOT_CS, 0x00, // ljmp $__BOOT_CS,$code64 (offset below)
        };
        long code64At = TRAMPOLINE + code32.length;
        code32[code32.length - 6] = (byte) code64At;
        code32[code32.length - 5] = (byte) (code64At >> 8);
        byte[] code64 = {
                (byte) 0xb8, BOOT_DS, 0x00, 0x00, 0x00, // mov $__BOOT_DS,%eax
                (byte) 0x8e, (byte) 0xd8, // mov %eax,%ds
                (byte) 0x8e, (byte) 0xc0, // mov %eax,%es
                (byte) 0x8e, (byte) 0xd0, // mov %eax,%ss
                (byte) 0x8e, (byte) 0xe0, // mov %eax,%fs
                (byte) 0x8e, (byte) 0xe8, // mov %eax,%gs
                0x31, (byte) 0xdb, // xor %ebx,%ebx
                0x31, (byte) 0xed, // xor %ebp,%ebp
                0x31, (byte) 0xff, // xor %edi,%edi
                0x48, (byte) 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, // movabs $entry,%rax
                (byte) 0xff, (byte) 0xe0, // jmp *%rax
        };
        for (int i = 0; i < 8; i++) {
            code64[23 + i] = (byte) (entry >>> (8 * i));
        }
        MemorySegment.copy(code32, 0, a, ValueLayout.JAVA_BYTE, TRAMPOLINE - BOOT_AREA_START, code32.length);
        MemorySegment.copy(code64, 0, a, ValueLayout.JAVA_BYTE, code64At - BOOT_AREA_START, code64.length);
    }
}
