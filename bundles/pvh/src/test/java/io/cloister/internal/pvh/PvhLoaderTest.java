package io.cloister.internal.pvh;

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
        PvhLoader.Loaded l = PvhLoader.load("hello.elf", hello, memory, RAM, "console=ttyS0 iterations=3");
        assertEquals(0x100000, l.entry());
        assertEquals(PvhLoader.START_INFO, l.startInfo());
        MemorySegment si = Arena.ofAuto().allocate(64);
        memory.read(PvhLoader.START_INFO, si);
        assertEquals(0x336ec578, si.get(ValueLayout.JAVA_INT, 0), "magic");
        assertEquals(2, si.get(ValueLayout.JAVA_INT, 48), "memory map entries");
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
}
