package io.cloister.internal.boot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;

import com.code_intelligence.jazzer.junit.FuzzTest;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.GuestMemory;
import io.cloister.api.memory.SlotSpec;
import io.cloister.internal.acpi.AcpiDevice;
import io.cloister.memory.MemoryManagerImpl;

/**
 * The bzImage loader takes any file a user names as the kernel: for every content it either boots
 * it (the 64-bit entry, boot_params with the header copied and the initrd placed) or refuses it
 * with its one documented error (CloisterException EINVAL naming the file). Seeds: synthetic
 * images of protocols 2.15, 2.12 and 2.10 and the bootinfo test guest as a bzImage
 * (BzImageLoaderFuzzTestInputs/load/).
 */
class BzImageLoaderFuzzTest {
    static final long RAM = 32 << 20;
    final GuestMemory memory = new MemoryManagerImpl().create("fuzz").memory();
    final byte[] initrd = new byte[4096];

    BzImageLoaderFuzzTest() {
        memory.add(SlotSpec.ram(0, RAM));
    }

    @AfterEach
    void close() {
        memory.close();
    }

    @FuzzTest(maxDuration = "15s")
    @Timeout(10)
    void load(byte[] image) {
        Boot.Booted booted;
        try {
            booted = Boot.boot("fuzz.bz", BzImageLoader.check("fuzz.bz", MemorySegment.ofArray(image), RAM), memory, RAM,
                    new Boot.Setup("console=ttyS0", "fuzz.rd", MemorySegment.ofArray(initrd), 1, List.of(AcpiDevice.serial(0x3f8))));
        } catch (CloisterException e) {
            assertEquals(Errno.EINVAL, e.errno(), e.getMessage());
            assertTrue((e.getMessage().startsWith("EINVAL: guest image fuzz.bz: ") || e.getMessage().startsWith("EINVAL: initrd fuzz.rd: "))
                    && !e.getMessage().endsWith("null") && !e.getMessage().contains("\n"), e.getMessage());
            return;
        }
        BootDescription d = booted.description();
        assertEquals(BootLayout.TRAMPOLINE, booted.entry());
        assertTrue(d.entry().rip() >= 0x100200 && d.kernelEnd() <= RAM, "kernel inside guest memory");
        assertTrue(d.initrdAddr() >= d.kernelEnd() && d.initrdAddr() + initrd.length <= RAM, "initrd above the kernel");
        MemorySegment magic = Arena.ofAuto().allocate(4);
        memory.read(BootLayout.BOOT_PARAMS + BzImageLoader.HDRS, magic);
        assertEquals(BzImageLoader.HDRS_MAGIC, magic.get(ValueLayout.JAVA_INT_UNALIGNED, 0), "boot_params written");
    }
}
