package io.cloister.internal.boot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.GuestMemory;
import io.cloister.api.memory.SlotSpec;
import io.cloister.memory.MemoryManagerImpl;

class PvhLoaderTest {
    static final long RAM = 16 << 20;
    final GuestMemory memory = new MemoryManagerImpl().create("vm").memory();
    final byte[] hello;

    PvhLoaderTest() throws Exception {
        memory.add(SlotSpec.ram(0, RAM));
        Path p = Path.of("").toAbsolutePath();
        while (!Files.isDirectory(p.resolve("guests/bin"))) {
            p = p.getParent();
        }
        hello = Files.readAllBytes(p.resolve("guests/bin/hello.elf"));
    }

    @AfterEach
    void close() {
        memory.close();
    }

    String refused(byte[] elf) {
        CloisterException e = assertThrows(CloisterException.class, () -> PvhLoader.load("k.elf", elf, memory, RAM, ""));
        assertEquals(Errno.EINVAL, e.errno());
        return e.getMessage();
    }

    static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void loadsSegmentsAndBuildsStartInfo() {
        Boot.Booted l = PvhLoader.load("hello.elf", hello, memory, RAM, "console=ttyS0 iterations=3");
        assertEquals(0x100000, l.entry());
        assertEquals(BootLayout.START_INFO, l.startInfo());
        MemorySegment si = Arena.ofAuto().allocate(64);
        memory.read(BootLayout.START_INFO, si);
        assertEquals(0x336ec578, si.get(ValueLayout.JAVA_INT, 0), "magic");
        assertEquals(5, si.get(ValueLayout.JAVA_INT, 48), "memory map entries: low RAM, boot area, RAM to 0x9fc00, ACPI area, RAM from 1 MiB");
        MemorySegment cmd = Arena.ofAuto().allocate(64);
        memory.read(si.get(ValueLayout.JAVA_LONG, 24), cmd);
        assertEquals("console=ttyS0 iterations=3", cmd.getString(0));
        MemorySegment code = Arena.ofAuto().allocate(1);
        memory.read(0x100000, code);
        assertEquals((byte) 0xfa, code.get(ValueLayout.JAVA_BYTE, 0), "cli, the first instruction of start.S");
    }

    @Test
    void badFilesAreRefusedWithTheReason() {
        assertTrue(refused("nope".getBytes()).contains("not an ELF file (bad magic)"));
        assertTrue(refused(Arrays.copyOf(hello, 40)).contains("truncated: 40 bytes"));
        byte[] truncated = Arrays.copyOf(hello, 0x1010);
        assertTrue(refused(truncated).contains("truncated"), refused(truncated));
        byte[] elf32 = hello.clone();
        elf32[4] = 1;
        assertTrue(refused(elf32).contains("ELF class 1 is not ELFCLASS64"));
        byte[] arm = hello.clone();
        le(arm).putShort(18, (short) 183);
        assertTrue(refused(arm).contains("machine 183 is not x86-64"));
        byte[] bigEndian = hello.clone();
        bigEndian[5] = 2;
        assertTrue(refused(bigEndian).contains("not little-endian"));
    }

    @Test
    void segmentsOutsideMemoryAndMissingNotesAreRefused() {
        CloisterException small = assertThrows(CloisterException.class, () -> PvhLoader.load("k", hello, memory, 1 << 20, ""));
        assertTrue(small.getMessage().contains("lies outside guest memory [0, 0x100000)"), small.getMessage());
        byte[] noNote = hello.clone();
        ByteBuffer b = le(noNote);
        long phoff = b.getLong(32);
        int phnum = b.getShort(56);
        for (int i = 0; i < phnum; i++) {
            int ph = (int) (phoff + i * 56L);
            if (b.getInt(ph) == 4) {
                b.putInt(ph, 6); // the PT_NOTE becomes PT_PHDR: no notes left
            }
        }
        assertTrue(refused(noNote).contains("no PVH entry note"), refused(noNote));
        assertThrows(CloisterException.class, () -> PvhLoader.load("k", hello, memory, RAM, "x".repeat(5000)));
    }

    /** An ELF header, one PT_NOTE program header and one Xen note of {@code type} with {@code desc}. */
    static byte[] xenNoteElf(int type, String desc) {
        byte[] d = (desc + "\0").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] elf = new byte[64 + 56 + 16 + ((d.length + 3) & ~3)];
        ByteBuffer b = le(elf);
        b.putInt(0, 0x464c457f).put(4, (byte) 2).put(5, (byte) 1).putLong(32, 64).putShort(54, (short) 56).putShort(56, (short) 1);
        b.putInt(64, 4).putLong(64 + 8, 120).putLong(64 + 32, elf.length - 120);
        b.putInt(120, 4).putInt(124, d.length).putInt(128, type).putInt(132, 0x006e6558);
        b.put(136, d);
        return elf;
    }

    @Test
    void linuxIsRecognisedByItsGuestOsNote() {
        assertTrue(Boot.isLinux(MemorySegment.ofArray(xenNoteElf(6, "linux"))), "Xen GUEST_OS note \"linux\" (Linux's vmlinux)");
        assertTrue(!Boot.isLinux(MemorySegment.ofArray(xenNoteElf(6, "netbsd"))), "another guest OS");
        assertTrue(!Boot.isLinux(MemorySegment.ofArray(xenNoteElf(7, "linux"))), "another note type");
        assertTrue(!Boot.isLinux(MemorySegment.ofArray(hello)), "the project's guests carry only the PVH entry note");
        byte[] runsPast = xenNoteElf(6, "linux");
        le(runsPast).putInt(124, 0x7fffffff); // descriptor past the segment: not recognised, no exception
        assertTrue(!Boot.isLinux(MemorySegment.ofArray(runsPast)));
        assertTrue(!Boot.isLinux(MemorySegment.ofArray(Arrays.copyOf(hello, 70))), "truncated");
        assertTrue(!Boot.isLinux(MemorySegment.ofArray("nope".getBytes())));
    }

    /** The file offset of the program header of {@code type} number {@code n} (0-based) in {@code elf}. */
    static int phdr(byte[] elf, int type, int n) {
        ByteBuffer b = le(elf);
        long phoff = b.getLong(32);
        for (int i = 0, seen = 0; i < b.getShort(56); i++) {
            int ph = (int) (phoff + i * 56L);
            if (b.getInt(ph) == type && seen++ == n) {
                return ph;
            }
        }
        throw new AssertionError("no program header of type " + type);
    }

    /** Item 13: sizes that wrap an int or a long said "failed: null" (an IndexOutOfBoundsException without a message). */
    @Test
    void overflowingHeaderAndNoteSizesAreNamed() {
        byte[] phoff = hello.clone();
        le(phoff).putLong(32, Long.MAX_VALUE - 50); // phoff + phnum * phentsize wraps to a negative number
        assertTrue(refused(phoff).contains("program headers (4 of 56 bytes at offset 0x7fffffffffffffcd) are truncated"),
                refused(phoff));

        byte[] offset = hello.clone();
        le(offset).putLong(phdr(offset, 4, 0) + 8, -8L); // the note's offset + size wraps
        assertTrue(refused(offset).contains("segment 2 is truncated"), refused(offset));

        int noteOffset = (int) le(hello).getLong(phdr(hello, 4, 0) + 8);
        byte[] namesz = hello.clone();
        le(namesz).putInt(noteOffset, 0xfffffffd); // align4(namesz) wraps an int to 0
        assertTrue(refused(namesz).contains("note at offset 0x" + Integer.toHexString(noteOffset)
                + " in segment 2 (name 4294967293 bytes, descriptor 4 bytes) runs past the segment's end"), refused(namesz));

        byte[] descsz = hello.clone();
        le(descsz).putInt(noteOffset + 4, 0x7ffffffe); // desc + descsz wraps an int to a negative number
        assertTrue(refused(descsz).contains("descriptor 2147483646 bytes) runs past the segment's end"), refused(descsz));

        byte[] memsz = hello.clone();
        le(memsz).putLong(phdr(memsz, 1, 1) + 40, -0x101000L); // paddr + memsz wraps to 0
        assertTrue(refused(memsz).contains("segment 1 (0xffffffffffeff000 bytes at 0x101000) lies outside guest memory"),
                refused(memsz));

        byte[] entrySize = hello.clone();
        le(entrySize).putInt(noteOffset + 4, 2);
        assertTrue(refused(entrySize).contains("PVH entry note has a 2-byte descriptor"), refused(entrySize));
    }

    /** Item 13: QEMU refuses overlapping segments; here the bss was written over the code and the guest ran into zeros. */
    @Test
    void overlappingSegmentsAreRefused() {
        byte[] bssOverCode = hello.clone();
        le(bssOverCode).putLong(phdr(bssOverCode, 1, 1) + 24, 0x100000);
        assertTrue(refused(bssOverCode).contains("segments 0 [0x100000, 0x100338) and 1 [0x100000, 0x117000) overlap"),
                refused(bssOverCode));
        MemorySegment code = Arena.ofAuto().allocate(1);
        memory.read(0x100000, code);
        assertEquals(0, code.get(ValueLayout.JAVA_BYTE, 0), "a refused image leaves guest memory untouched");

        byte[] touching = hello.clone();
        le(touching).putLong(phdr(touching, 1, 1) + 24, 0x100338); // ends where the next begins: allowed
        assertEquals(0x100338 + 0x17000, PvhLoader.load("k", touching, memory, RAM, "").end());
    }

    @Test
    void entryOutsideTheFileContentsAndTinyMemoryAreRefused() {
        int noteOffset = (int) le(hello).getLong(phdr(hello, 4, 0) + 8);
        byte[] inBss = hello.clone();
        le(inBss).putInt(noteOffset + 16, 0x101000);
        assertTrue(refused(inBss).contains("PVH entry 0x101000 is not inside the file contents of any loadable segment"),
                refused(inBss));
        byte[] filesz = hello.clone();
        le(filesz).putLong(phdr(filesz, 1, 0) + 40, 0x10);
        assertTrue(refused(filesz).contains("segment 0 has 0x338 bytes in the file but only 0x10 in memory"), refused(filesz));
        CloisterException tiny = assertThrows(CloisterException.class, () -> PvhLoader.load("k", hello, memory, 0x8000, ""));
        assertTrue(tiny.getMessage().contains("cannot hold the boot area"), tiny.getMessage());
    }
}
