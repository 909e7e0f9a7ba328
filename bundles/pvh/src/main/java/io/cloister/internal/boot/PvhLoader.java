package io.cloister.internal.boot;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import io.cloister.api.CloisterException;
import io.cloister.api.memory.GuestMemory;

/**
 * Checks a PVH-bootable ELF (what QEMU -kernel, Firecracker and Cloud Hypervisor accept): the
 * PT_LOAD segments go to their physical addresses, the XEN_ELFNOTE_PHYS32_ENTRY note gives the
 * 32-bit entry point; {@link Boot} writes them and {@link BootLayout} the start_info. Every problem
 * with the file is a CloisterException (EINVAL) saying what is wrong, and it is the only exception
 * the loader throws for any content of the file (PvhLoaderFuzzTest holds it to that); overlapping
 * segments are refused, as QEMU does.
 */
final class PvhLoader {
    static final int XEN_ELFNOTE_PHYS32_ENTRY = 18;
    /** The Xen note naming the guest's operating system ("linux" in Linux's vmlinux). */
    static final int XEN_ELFNOTE_GUEST_OS = 6;
    /** "Xen\0" as a little-endian int: the owner name of the Xen notes. */
    private static final int XEN_NAME = 0x006e6558;
    static final int PT_LOAD = 1;
    static final int PT_NOTE = 4;
    static final int EHDR_SIZE = 64;
    static final int PHDR_SIZE = 56;
    private static final long ZERO_CHUNK = 1 << 20;

    private PvhLoader() {
    }

    /** Boots an ELF as PVH with no initrd, one vCPU and no devices (tests). */
    static Boot.Booted load(String name, byte[] elf, GuestMemory memory, long ramSize, String cmdline) {
        Boot.checkRam(name, ramSize);
        MemorySegment image = MemorySegment.ofArray(elf);
        return Boot.boot(name, check(name, image, ramSize), memory, ramSize, Boot.Setup.of(cmdline));
    }

    /**
     * Checks the whole file and returns the kernel it describes, to be written later, so a refused
     * image leaves no partial load behind. Sizes and offsets in the file are unsigned and are
     * compared without adding them up, so no value in the file can wrap an address or a length.
     * The image may be a mapped file: it is never copied onto the heap.
     */
    static Kernel check(String name, MemorySegment image, long ramSize) {
        if (image.byteSize() > Integer.MAX_VALUE) {
            throw bad(name, image.byteSize() + " bytes: images of 2 GiB and more are not supported");
        }
        long length = image.byteSize();
        ByteBuffer b = image.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        if (length < 4 || b.getInt(0) != 0x464c457f) {
            throw bad(name, "not an ELF file (bad magic)");
        }
        if (length < EHDR_SIZE) {
            throw bad(name, "truncated: " + length + " bytes, an ELF header needs 64");
        }
        if (b.get(4) != 2) {
            throw bad(name, "ELF class " + b.get(4) + " is not ELFCLASS64");
        }
        if (b.get(5) != 1) {
            throw bad(name, "not little-endian");
        }
        int machine = b.getShort(18) & 0xffff;
        if (machine != 62) {
            throw bad(name, "machine " + machine + " is not x86-64 (62)");
        }
        long phoff = b.getLong(32);
        int phentsize = b.getShort(54) & 0xffff;
        int phnum = b.getShort(56) & 0xffff;
        if (phnum == 0) {
            throw bad(name, "no program headers");
        }
        if (phentsize < PHDR_SIZE) {
            throw bad(name, "program header size " + phentsize + " is smaller than " + PHDR_SIZE);
        }
        if (!fits(phoff, (long) phnum * phentsize, length)) {
            throw bad(name, String.format("program headers (%d of %d bytes at offset 0x%x) are truncated: the file has %d bytes", phnum,
                    phentsize, phoff, length));
        }
        List<Segment> loads = new ArrayList<>();
        Long entry = null;
        for (int i = 0; i < phnum; i++) {
            int ph = (int) (phoff + (long) i * phentsize);
            int type = b.getInt(ph);
            long offset = b.getLong(ph + 8);
            long paddr = b.getLong(ph + 24);
            long filesz = b.getLong(ph + 32);
            long memsz = b.getLong(ph + 40);
            if (type != PT_LOAD && type != PT_NOTE) {
                continue;
            }
            if (!fits(offset, filesz, length)) {
                throw bad(name, String.format("segment %d is truncated: it needs 0x%x bytes at offset 0x%x, the file has %d", i, filesz,
                        offset, length));
            }
            if (type == PT_NOTE) {
                Long e = pvhEntry(name, i, b, (int) offset, (int) filesz);
                if (e != null) {
                    entry = e;
                }
            } else if (memsz != 0) {
                loads.add(checkLoad(name, i, offset, paddr, filesz, memsz, ramSize, loads));
            }
        }
        if (entry == null) {
            throw bad(name, "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): not a PVH-bootable kernel");
        }
        long e = entry;
        if (Long.compareUnsigned(e, ramSize) >= 0 || Long.compareUnsigned(e, 0xffffffffL) > 0) {
            throw bad(name, String.format("PVH entry 0x%x lies outside guest memory", e));
        }
        // The entry must be code from the file: anywhere else the guest starts in zeros (or in a
        // start_info) and loops there without ever saying why.
        if (loads.stream().noneMatch(s -> e >= s.paddr && e - s.paddr < s.filesz)) {
            throw bad(name, String.format("PVH entry 0x%x is not inside the file contents of any loadable segment", e));
        }
        long end = loads.stream().mapToLong(Segment::end).max().orElse(0);
        // Xen's PVH ABI has no limit of its own for modules; below 4 GiB keeps them 32-bit reachable.
        return new Kernel(BootDescription.Protocol.PVH, false, e, end, 1L << 32, BootLayout.MAX_CMDLINE, null,
                memory -> write(image, loads, memory));
    }

    private static void write(MemorySegment image, List<Segment> loads, GuestMemory memory) {
        MemorySegment zeros = null;
        for (Segment s : loads) {
            Boot.copy(image, s.offset, s.filesz, memory, s.paddr);
            // The part past the file contents is zeroed in bounded pieces: memsz comes from the file.
            for (long done = s.filesz; done < s.memsz;) {
                if (zeros == null) {
                    zeros = Arena.ofAuto().allocate(ZERO_CHUNK);
                }
                long n = Math.min(ZERO_CHUNK, s.memsz - done);
                memory.write(s.paddr + done, zeros.asSlice(0, n));
                done += n;
            }
        }
    }

    /** A PT_LOAD segment that fits guest memory and overlaps neither the boot area nor {@code earlier}. */
    private static Segment checkLoad(String name, int i, long offset, long paddr, long filesz, long memsz, long ramSize,
            List<Segment> earlier) {
        if (Long.compareUnsigned(filesz, memsz) > 0) {
            throw bad(name, String.format("segment %d has 0x%x bytes in the file but only 0x%x in memory", i, filesz, memsz));
        }
        if (!fits(paddr, memsz, ramSize)) {
            throw bad(name, String.format("segment %d (0x%x bytes at 0x%x) lies outside guest memory [0, 0x%x)", i, memsz, paddr,
                    ramSize));
        }
        Segment s = new Segment(i, offset, paddr, filesz, memsz);
        for (long[] area : BootLayout.fixedAreas(ramSize)) {
            if (s.overlaps(area[0], area[1])) {
                throw bad(name, String.format("segment %d [0x%x, 0x%x) overlaps the boot area [0x%x, 0x%x)", i, paddr, s.end(), area[0],
                        area[1]));
            }
        }
        // QEMU refuses overlapping segments too: whichever is written last would silently replace
        // the other's code or data (a later bss wipes earlier code), and the guest runs into zeros.
        for (Segment o : earlier) {
            if (s.overlaps(o.paddr, o.end())) {
                throw bad(name, String.format("segments %d [0x%x, 0x%x) and %d [0x%x, 0x%x) overlap", o.index, o.paddr, o.end(), i, paddr,
                        s.end()));
            }
        }
        return s;
    }

    /** Whether {@code length} bytes at {@code start} (both unsigned) lie within [0, limit). */
    private static boolean fits(long start, long length, long limit) {
        return Long.compareUnsigned(start, limit) <= 0 && Long.compareUnsigned(length, limit - start) <= 0;
    }

    /** A loadable segment already checked to lie in guest memory, so its end cannot wrap. */
    private record Segment(int index, long offset, long paddr, long filesz, long memsz) {
        long end() {
            return paddr + memsz;
        }

        boolean overlaps(long start, long end) {
            return paddr < end && start < end();
        }
    }

    /**
     * The PHYS32_ENTRY of the note segment {@code seg} (at {@code start}, {@code size} bytes, both
     * within the file), or null. Name and descriptor sizes are unsigned 32-bit values: a note whose
     * contents run past the segment (only the padding of the last one may be missing) is refused, not skipped, so a corrupt file is not mistaken for one
     * without the note.
     */
    private static Long pvhEntry(String file, int seg, ByteBuffer b, int start, int size) {
        long p = start;
        long limit = (long) start + size;
        while (limit - p >= 12) {
            long namesz = b.getInt((int) p) & 0xffffffffL;
            long descsz = b.getInt((int) p + 4) & 0xffffffffL;
            int type = b.getInt((int) p + 8);
            long name = p + 12;
            long desc = name + align4(namesz);
            long next = desc + align4(descsz);
            if (desc + descsz > limit) {
                throw bad(file, String.format("note at offset 0x%x in segment %d (name %d bytes, descriptor %d bytes) runs past the"
                        + " segment's end at offset 0x%x", p, seg, namesz, descsz, limit));
            }
            boolean xen = namesz == 4 && b.get((int) name) == 'X' && b.get((int) name + 1) == 'e' && b.get((int) name + 2) == 'n'
                    && b.get((int) name + 3) == 0;
            if (xen && type == XEN_ELFNOTE_PHYS32_ENTRY) {
                if (descsz != 4 && descsz != 8) {
                    throw bad(file, "the PVH entry note has a " + descsz + "-byte descriptor, not 4 or 8");
                }
                return descsz == 4 ? b.getInt((int) desc) & 0xffffffffL : b.getLong((int) desc);
            }
            p = next;
        }
        return null;
    }

    /**
     * Whether a 64-bit little-endian ELF has a Xen GUEST_OS note (type 6) whose text is "linux"
     * in one of its PT_NOTE segments; false for anything malformed (bounds checked on every read).
     */
    static boolean guestOsIsLinux(MemorySegment image) {
        long length = image.byteSize();
        if (length < 64 || image.get(ValueLayout.JAVA_BYTE, 4) != 2 || image.get(ValueLayout.JAVA_BYTE, 5) != 1) {
            return false;
        }
        ValueLayout.OfInt i32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        ValueLayout.OfLong i64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        ValueLayout.OfShort i16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        long phoff = image.get(i64, 32);
        int phentsize = image.get(i16, 54) & 0xffff;
        int phnum = image.get(i16, 56) & 0xffff;
        if (phentsize < PHDR_SIZE || !fits(phoff, (long) phnum * phentsize, length)) {
            return false;
        }
        for (int n = 0; n < phnum; n++) {
            long ph = phoff + (long) n * phentsize;
            if (image.get(i32, ph) != PT_NOTE) {
                continue;
            }
            long offset = image.get(i64, ph + 8);
            long filesz = image.get(i64, ph + 32);
            if (!fits(offset, filesz, length)) {
                return false;
            }
            for (long p = offset, limit = offset + filesz; limit - p >= 12;) {
                long namesz = image.get(i32, p) & 0xffffffffL;
                long descsz = image.get(i32, p + 4) & 0xffffffffL;
                int type = image.get(i32, p + 8);
                long name = p + 12;
                long desc = name + align4(namesz);
                if (desc + descsz > limit) {
                    return false;
                }
                if (namesz == 4 && image.get(i32, name) == XEN_NAME && type == XEN_ELFNOTE_GUEST_OS && descsz >= 5
                        && "linux".equals(ascii(image, desc, 5))) {
                    return true;
                }
                p = desc + align4(descsz);
            }
        }
        return false;
    }

    private static String ascii(MemorySegment image, long at, int n) {
        byte[] b = new byte[n];
        MemorySegment.copy(image, ValueLayout.JAVA_BYTE, at, b, 0, n);
        return new String(b, java.nio.charset.StandardCharsets.US_ASCII);
    }

    /** Rounds an unsigned 32-bit size up to a multiple of 4; the result fits a long without wrapping. */
    private static long align4(long n) {
        return (n + 3) & ~3L;
    }

    private static CloisterException bad(String name, String why) {
        return Boot.bad(name, why);
    }
}
