package io.cloister.internal.pvh;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.GuestMemory;

/**
 * Loads a PVH-bootable ELF (what QEMU -kernel, Firecracker and Cloud Hypervisor accept): the
 * PT_LOAD segments go to their physical addresses, the XEN_ELFNOTE_PHYS32_ENTRY note gives the
 * 32-bit entry point, and a PVH start_info (magic, command line, memory map) is built in low
 * memory. Every problem with the file is a CloisterException (EINVAL) saying what is wrong.
 */
public final class PvhLoader {
    static final int XEN_ELFNOTE_PHYS32_ENTRY = 18;
    static final int HVM_START_MAGIC = 0x336ec578;
    /** Where the loader puts start_info, the memory map and the command line. */
    public static final long START_INFO = 0x7000;
    static final long MEMMAP = 0x7040;
    static final long CMDLINE = 0x8000;
    static final long BOOT_AREA_END = 0x9000;
    static final int MAX_CMDLINE = 4095;

    /** The entry point (32-bit protected mode, %ebx = startInfo) and the highest loaded address. */
    public record Loaded(long entry, long startInfo, long end) {
    }

    private PvhLoader() {
    }

    public static Loaded load(String name, byte[] elf, GuestMemory memory, long ramSize, String cmdline) {
        ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
        if (elf.length < 4 || b.getInt(0) != 0x464c457f) {
            throw bad(name, "not an ELF file (bad magic)");
        }
        if (elf.length < 64) {
            throw bad(name, "truncated: " + elf.length + " bytes, an ELF header needs 64");
        }
        if (elf[4] != 2) {
            throw bad(name, "ELF class " + elf[4] + " is not ELFCLASS64");
        }
        if (elf[5] != 1) {
            throw bad(name, "not little-endian");
        }
        int machine = b.getShort(18) & 0xffff;
        if (machine != 62) {
            throw bad(name, "machine " + machine + " is not x86-64 (62)");
        }
        long phoff = b.getLong(32);
        int phentsize = b.getShort(54) & 0xffff;
        int phnum = b.getShort(56) & 0xffff;
        if (phnum == 0 || phentsize < 56 || phoff < 0 || phoff + (long) phnum * phentsize > elf.length) {
            throw bad(name, "program headers are missing or truncated");
        }
        if (cmdline.length() > MAX_CMDLINE) {
            throw bad(name, "command line longer than " + MAX_CMDLINE + " bytes");
        }
        Long entry = null;
        long end = 0;
        for (int i = 0; i < phnum; i++) {
            int ph = (int) (phoff + (long) i * phentsize);
            int type = b.getInt(ph);
            long offset = b.getLong(ph + 8);
            long paddr = b.getLong(ph + 24);
            long filesz = b.getLong(ph + 32);
            long memsz = b.getLong(ph + 40);
            if (type == 1 || type == 4) {
                if (offset < 0 || filesz < 0 || offset + filesz > elf.length || offset + filesz < offset) {
                    throw bad(name, "segment " + i + " is truncated (needs bytes up to " + (offset + filesz) + " of "
                            + elf.length + ")");
                }
            }
            if (type == 1 && memsz > 0) {
                if (memsz < filesz || paddr < 0 || paddr + memsz > ramSize || paddr + memsz < paddr) {
                    throw bad(name, String.format("segment %d [0x%x, 0x%x) lies outside guest memory [0, 0x%x)", i, paddr,
                            paddr + memsz, ramSize));
                }
                if (paddr < BOOT_AREA_END && paddr + memsz > START_INFO) {
                    throw bad(name, String.format("segment %d [0x%x, 0x%x) overlaps the boot area [0x%x, 0x%x)", i, paddr,
                            paddr + memsz, START_INFO, BOOT_AREA_END));
                }
                memory.write(paddr, MemorySegment.ofArray(elf).asSlice(offset, filesz));
                if (memsz > filesz) {
                    memory.write(paddr + filesz, Arena.ofAuto().allocate(memsz - filesz));
                }
                end = Math.max(end, paddr + memsz);
            } else if (type == 4) {
                Long e = pvhEntry(b, (int) offset, (int) filesz);
                if (e != null) {
                    entry = e;
                }
            }
        }
        if (entry == null) {
            throw bad(name, "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): not a PVH-bootable kernel");
        }
        if (entry < 0 || entry >= ramSize || entry > 0xffffffffL) {
            throw bad(name, String.format("PVH entry 0x%x lies outside guest memory", entry));
        }
        writeStartInfo(memory, ramSize, cmdline);
        return new Loaded(entry, START_INFO, end);
    }

    /** The PHYS32_ENTRY of a note segment, or null. */
    private static Long pvhEntry(ByteBuffer b, int start, int size) {
        int p = start;
        int limit = start + size;
        while (p + 12 <= limit) {
            int namesz = b.getInt(p);
            int descsz = b.getInt(p + 4);
            int type = b.getInt(p + 8);
            int name = p + 12;
            int desc = name + align4(namesz);
            if (namesz < 0 || descsz < 0 || desc + descsz > limit) {
                return null;
            }
            boolean xen = namesz == 4 && b.get(name) == 'X' && b.get(name + 1) == 'e' && b.get(name + 2) == 'n';
            if (xen && type == XEN_ELFNOTE_PHYS32_ENTRY && (descsz == 4 || descsz == 8)) {
                return descsz == 4 ? b.getInt(desc) & 0xffffffffL : b.getLong(desc);
            }
            p = desc + align4(descsz);
        }
        return null;
    }

    private static int align4(int n) {
        return (n + 3) & ~3;
    }

    private static void writeStartInfo(GuestMemory memory, long ramSize, String cmdline) {
        MemorySegment si = Arena.ofAuto().allocate(0x2000);
        si.set(ValueLayout.JAVA_INT, 0, HVM_START_MAGIC);
        si.set(ValueLayout.JAVA_INT, 4, 1); // version
        si.set(ValueLayout.JAVA_LONG, 24, CMDLINE);
        si.set(ValueLayout.JAVA_LONG, 40, MEMMAP);
        long[][] map = ramSize > 0x100000 ? new long[][] {{0, 0x9fc00}, {0x100000, ramSize - 0x100000}} : new long[][] {{0, ramSize}};
        si.set(ValueLayout.JAVA_INT, 48, map.length);
        for (int i = 0; i < map.length; i++) {
            long e = MEMMAP - START_INFO + i * 24L;
            si.set(ValueLayout.JAVA_LONG, e, map[i][0]);
            si.set(ValueLayout.JAVA_LONG, e + 8, map[i][1]);
            si.set(ValueLayout.JAVA_INT, e + 16, 1); // E820 RAM
        }
        byte[] cmd = cmdline.getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(cmd, 0, si, ValueLayout.JAVA_BYTE, CMDLINE - START_INFO, cmd.length);
        memory.write(START_INFO, si);
    }

    private static CloisterException bad(String name, String why) {
        return new CloisterException(Errno.EINVAL, "guest image " + name + ": " + why);
    }
}
