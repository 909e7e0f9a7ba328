package io.cloister.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import org.junit.jupiter.api.Timeout;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.cloister.api.device.Space;

/**
 * The rings and the transport's registers are the guest's to write. Whatever descriptor tables,
 * available rings, ring addresses, queue sizes, feature and status values and notifications a
 * hostile driver produces, a virtio-blk device over MMIO must: answer every register access
 * without an exception; serve or go to NEEDS_RESET, never through its catch-all for unexpected
 * exceptions (a device bug, counted here as a finding); never touch the image beyond its
 * capacity (its size stays), and never write a read-only one. Guest RAM refuses private pages
 * and addresses outside it, as the VMM's DMA view does. Seeds: VirtqueueFuzzTestInputs/rings/.
 */
class VirtqueueFuzzTest {
    static final int[] REGISTERS = {0x000, 0x004, 0x008, 0x00c, 0x010, 0x014, 0x020, 0x024, 0x030, 0x034, 0x038, 0x044,
        0x050, 0x060, 0x064, 0x070, 0x080, 0x084, 0x090, 0x094, 0x0a0, 0x0a4, 0x0fc, 0x100, 0x108, 0x114};
    static final int RAM = 1 << 18;
    static final int IMAGE = 64 << 10;

    @FuzzTest(maxDuration = "15s")
    @Timeout(20)
    void rings(FuzzedDataProvider data) throws Exception {
        Path dir = Files.createTempDirectory("virtqueue-fuzz");
        Path file = dir.resolve("disk.img");
        byte[] image = new byte[IMAGE];
        Arrays.fill(image, (byte) 0x5a);
        Files.write(file, image);
        boolean readOnly = data.consumeBoolean();
        try (GuestRam ram = new GuestRam(RAM)) {
            VirtioMmio dev = new VirtioMmio(Driver.BASE, 6, new VirtioBlk(file, readOnly,
                    data.consumeBoolean() ? VirtioBlk.CacheType.WRITEBACK : VirtioBlk.CacheType.UNSAFE, "fuzz"));
            dev.attach(ram);
            try {
                if (data.consumeBoolean()) {
                    try { // mostly well-formed set-up, so that the fuzzer reaches the rings
                        new Driver(dev, ram, data.pickValue(new int[] {1, 2, 4, 8, 16, 256}), 0x10000).start(data.consumeLong());
                    } catch (IllegalStateException refused) {
                        // features the device does not accept: a driver would give up here; the fuzzer goes on
                    }
                }
                for (int i = 0; i < 64 && data.remainingBytes() > 0; i++) {
                    switch (data.consumeInt(0, 6)) {
                        case 0 -> dev.write(Space.MMIO, Driver.BASE + offset(data), size(data), data.consumeLong());
                        case 1 -> {
                            int size = size(data);
                            long v = dev.read(Space.MMIO, Driver.BASE + offset(data), size);
                            assertTrue(size >= 8 || v >>> (8 * size) == 0, "a " + size + "-byte read answered 0x" + Long.toHexString(v));
                        }
                        case 2 -> { // the driver's rings and buffers: bytes anywhere, most near the rings
                            byte[] bytes = data.consumeBytes(64);
                            long at = data.consumeBoolean() ? 0x10000 + data.consumeInt(0, 0x3000) : data.consumeInt(0, RAM - 64);
                            MemorySegment.copy(MemorySegment.ofArray(bytes), 0, ram.ram, at, bytes.length);
                        }
                        case 3 -> dev.write(Space.MMIO, Driver.BASE + 0x050, 4, data.consumeInt(0, 2)); // notify
                        case 4 -> ram.privatePages.flip(data.consumeInt(0, RAM / 4096 - 1));
                        case 5 -> dev.drain();
                        default -> { // a whole descriptor, the shape a driver writes, with fuzzed fields
                            long d = 0x10000 + 16L * data.consumeInt(0, 255);
                            ram.ram.set(GuestRam.U64, d, data.consumeBoolean() ? data.consumeLong() : data.consumeInt(0, RAM));
                            ram.ram.set(GuestRam.U32, d + 8, data.consumeInt());
                            ram.ram.set(GuestRam.U16, d + 12, (short) data.consumeInt(0, 7));
                            ram.ram.set(GuestRam.U16, d + 14, data.consumeShort());
                        }
                    }
                }
                dev.drain();
                assertNull(dev.unexpected, "serving a queue threw something other than a broken ring");
            } finally {
                dev.detach();
            }
            assertEquals(IMAGE, Files.size(file), "the image's size");
            if (readOnly) {
                assertTrue(Arrays.equals(image, Files.readAllBytes(file)), "a read-only image was written");
            }
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    private static int offset(FuzzedDataProvider data) {
        return data.consumeBoolean() ? data.pickValue(REGISTERS) : data.consumeInt(-16, 0x1010);
    }

    private static int size(FuzzedDataProvider data) {
        return data.consumeBoolean() ? 4 : data.pickValue(new int[] {1, 2, 8});
    }
}
