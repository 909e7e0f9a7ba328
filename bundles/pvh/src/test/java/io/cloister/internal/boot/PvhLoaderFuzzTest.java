package io.cloister.internal.boot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;

import com.code_intelligence.jazzer.junit.FuzzTest;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.GuestMemory;
import io.cloister.api.memory.SlotSpec;
import io.cloister.memory.MemoryManagerImpl;

/**
 * The PVH loader takes any file a user names as the kernel: for every content it either loads it
 * or refuses it with its one documented error (CloisterException EINVAL naming the file); any other
 * exception, or a load that breaks its own promises, is a finding. Seeds: the project's guests and
 * every input that once crashed the loader (PvhLoaderFuzzTestInputs/load/).
 */
class PvhLoaderFuzzTest {
    static final long RAM = 16 << 20;
    // One memory for all inputs of a run: what one load leaves behind does not matter to the next.
    final GuestMemory memory = new MemoryManagerImpl().create("fuzz").memory();

    PvhLoaderFuzzTest() {
        memory.add(SlotSpec.ram(0, RAM));
    }

    @AfterEach
    void close() {
        memory.close();
    }

    @FuzzTest(maxDuration = "15s")
    @Timeout(10)
    void load(byte[] elf) {
        Boot.Booted loaded;
        try {
            loaded = PvhLoader.load("fuzz.elf", elf, memory, RAM, "console=ttyS0");
        } catch (CloisterException e) {
            assertEquals(Errno.EINVAL, e.errno(), e.getMessage());
            assertTrue(e.getMessage().startsWith("EINVAL: guest image fuzz.elf: ") && !e.getMessage().endsWith("null"),
                    e.getMessage());
            return;
        }
        assertTrue(loaded.entry() >= 0 && loaded.entry() < RAM, "entry inside guest memory");
        assertTrue(loaded.end() >= 0 && loaded.end() <= RAM, "loaded end inside guest memory");
        MemorySegment magic = Arena.ofAuto().allocate(4);
        memory.read(BootLayout.START_INFO, magic);
        assertEquals(BootLayout.HVM_START_MAGIC, magic.get(ValueLayout.JAVA_INT, 0), "start_info written last");
    }
}
