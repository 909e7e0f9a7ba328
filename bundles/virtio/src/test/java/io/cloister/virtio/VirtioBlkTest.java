package io.cloister.virtio;

import static io.cloister.virtio.GuestRam.U32;
import static io.cloister.virtio.GuestRam.U64;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.cloister.api.device.Space;

/** virtio-blk on a raw image, driven as Linux's virtio_blk drives it. */
class VirtioBlkTest {
    static final long HEADER = 0x20000;
    static final long DATA = 0x21000;
    static final long STATUS = 0x2f000;
    @TempDir
    Path dir;
    final GuestRam ram = new GuestRam(1 << 20);
    VirtioMmio dev;

    @AfterEach
    void close() {
        if (dev != null) {
            dev.detach();
        }
        ram.close();
    }

    Driver drive(byte[] image, boolean readOnly, VirtioBlk.CacheType cache) throws Exception {
        Path file = dir.resolve("disk.img");
        Files.write(file, image);
        dev = new VirtioMmio(Driver.BASE, 6, new VirtioBlk(file, readOnly, cache, "cloister-disk-0"));
        dev.attach(ram);
        return new Driver(dev, ram, 16, 0x10000).start(-1L);
    }

    /** A request: header {type, 0, sector}, data buffers, status byte; returns {status, used length}. */
    int[] request(Driver d, int type, long sector, long[]... data) throws Exception {
        return request(d, ram, type, sector, data);
    }

    /** The same on any driver and RAM (VirtioBlkKillTest's child JVM drives its own). */
    static int[] request(Driver d, GuestRam ram, int type, long sector, long[]... data) throws InterruptedException {
        ram.ram.set(U32, HEADER, type);
        ram.ram.set(U32, HEADER + 4, 0);
        ram.ram.set(U64, HEADER + 8, sector);
        ram.ram.set(ValueLayout.JAVA_BYTE, STATUS, (byte) 0x7f);
        long[][] chain = new long[data.length + 2][];
        chain[0] = new long[] {HEADER, 16, 0};
        System.arraycopy(data, 0, chain, 1, data.length);
        chain[chain.length - 1] = new long[] {STATUS, 1, 1};
        int[] used = d.submit(chain);
        return new int[] {ram.ram.get(ValueLayout.JAVA_BYTE, STATUS), used[1]};
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void capacityAndFeaturesInTheConfigurationSpace() throws Exception {
        Driver d = drive(new byte[8 * 512], false, VirtioBlk.CacheType.UNSAFE);
        assertEquals(8, dev.read(Space.MMIO, Driver.BASE + 0x100, 4), "capacity in sectors");
        assertEquals(512, dev.read(Space.MMIO, Driver.BASE + 0x100 + 20, 4), "blk_size");
        assertEquals(2, d.reg(0x008), "block device");
        long f = d.deviceFeatures();
        assertEquals(0, f & VirtioBlk.F_FLUSH, "Unsafe: no flush offered (Firecracker's meaning)");
        assertEquals(0, f & VirtioBlk.F_RO);
        assertTrue((f & VirtioBlk.F_WRITE_ZEROES) != 0);
    }

    @Test
    void readsAndWritesSectors() throws Exception {
        byte[] image = random(16 * 512, 1);
        Driver d = drive(image, false, VirtioBlk.CacheType.WRITEBACK);
        assertArrayEquals(new int[] {VirtioBlk.S_OK, 1024 + 1}, request(d, VirtioBlk.T_IN, 2, new long[] {DATA, 1024, 1}));
        assertArrayEquals(Arrays.copyOfRange(image, 1024, 2048), ram.ram.asSlice(DATA, 1024).toArray(ValueLayout.JAVA_BYTE));

        byte[] data = random(1536, 2);
        MemorySegment.copy(MemorySegment.ofArray(data), 0, ram.ram, DATA, data.length);
        // two buffers, as a scatter-gather list
        assertArrayEquals(new int[] {VirtioBlk.S_OK, 1}, request(d, VirtioBlk.T_OUT, 5, new long[] {DATA, 512, 0},
                new long[] {DATA + 512, 1024, 0}));
        assertArrayEquals(new int[] {VirtioBlk.S_OK, 1}, request(d, VirtioBlk.T_FLUSH, 0));
        byte[] after = Files.readAllBytes(dir.resolve("disk.img"));
        assertArrayEquals(data, Arrays.copyOfRange(after, 5 * 512, 8 * 512), "written through to the image");
        assertArrayEquals(Arrays.copyOfRange(image, 0, 5 * 512), Arrays.copyOfRange(after, 0, 5 * 512), "nothing else changed");
    }

    @Test
    void outOfRangeAndPartialSectorsFailWithIoErr() throws Exception {
        Driver d = drive(new byte[4 * 512], false, VirtioBlk.CacheType.UNSAFE);
        assertEquals(VirtioBlk.S_IOERR, request(d, VirtioBlk.T_IN, 3, new long[] {DATA, 1024, 1})[0], "past the end");
        assertEquals(VirtioBlk.S_IOERR, request(d, VirtioBlk.T_IN, 0, new long[] {DATA, 100, 1})[0], "not whole sectors");
        assertEquals(VirtioBlk.S_IOERR, request(d, VirtioBlk.T_IN, -1L, new long[] {DATA, 512, 1})[0], "sector 2^64-1");
        assertEquals(VirtioBlk.S_UNSUPP, request(d, 99, 0)[0], "unknown type");
        assertEquals(VirtioBlk.S_OK, request(d, VirtioBlk.T_IN, 3, new long[] {DATA, 512, 1})[0], "the last sector is fine");
    }

    @Test
    void aReadOnlyDriveRefusesWrites() throws Exception {
        byte[] image = random(4 * 512, 3);
        Driver d = drive(image, true, VirtioBlk.CacheType.UNSAFE);
        assertTrue((d.deviceFeatures() & VirtioBlk.F_RO) != 0, "VIRTIO_BLK_F_RO offered");
        assertEquals(VirtioBlk.S_IOERR, request(d, VirtioBlk.T_OUT, 0, new long[] {DATA, 512, 0})[0]);
        assertEquals(VirtioBlk.S_IOERR, request(d, VirtioBlk.T_WRITE_ZEROES, 0, new long[] {DATA, 16, 0})[0]);
        assertArrayEquals(image, Files.readAllBytes(dir.resolve("disk.img")), "image unchanged");
        assertEquals(VirtioBlk.S_OK, request(d, VirtioBlk.T_IN, 0, new long[] {DATA, 512, 1})[0], "reads still work");
    }

    @Test
    void getIdAndWriteZeroes() throws Exception {
        Driver d = drive(random(8 * 512, 4), false, VirtioBlk.CacheType.UNSAFE);
        assertArrayEquals(new int[] {VirtioBlk.S_OK, 21}, request(d, VirtioBlk.T_GET_ID, 0, new long[] {DATA, 20, 1}));
        assertEquals("cloister-disk-0", new String(ram.ram.asSlice(DATA, 15).toArray(ValueLayout.JAVA_BYTE)));
        ram.ram.set(U64, DATA, 2);
        ram.ram.set(U32, DATA + 8, 3);
        ram.ram.set(U32, DATA + 12, 0);
        assertEquals(VirtioBlk.S_OK, request(d, VirtioBlk.T_WRITE_ZEROES, 0, new long[] {DATA, 16, 0})[0]);
        byte[] after = Files.readAllBytes(dir.resolve("disk.img"));
        assertArrayEquals(new byte[3 * 512], Arrays.copyOfRange(after, 2 * 512, 5 * 512));
        assertTrue(after[2 * 512 - 1] != 0 || after[5 * 512] != 0, "neighbours untouched (random bytes)");
    }

    /** A confidential guest's private page as a data buffer: that request fails, the disk goes on. */
    @Test
    void privateBuffersFailTheRequestOnly() throws Exception {
        byte[] image = random(8 * 512, 5);
        Driver d = drive(image, false, VirtioBlk.CacheType.UNSAFE);
        ram.privatePages.set((int) (DATA >>> 12));
        ram.ram.asSlice(DATA, 512).fill((byte) 0x55);
        assertArrayEquals(new int[] {VirtioBlk.S_IOERR, 1}, request(d, VirtioBlk.T_IN, 0, new long[] {DATA, 512, 1}));
        assertEquals(0x55, ram.ram.get(ValueLayout.JAVA_BYTE, DATA), "nothing written into the private page");
        assertEquals(VirtioBlk.S_IOERR, request(d, VirtioBlk.T_OUT, 0, new long[] {DATA, 512, 0})[0]);
        assertArrayEquals(image, Files.readAllBytes(dir.resolve("disk.img")), "nothing read out of it either");
        ram.privatePages.clear();
        assertEquals(VirtioBlk.S_OK, request(d, VirtioBlk.T_IN, 0, new long[] {DATA, 512, 1})[0]);
        assertEquals(0, d.reg(0x070) & VirtioMmio.STATUS_NEEDS_RESET);
    }

    @Test
    void aRequestWithoutStatusByteIsABrokenRing() throws Exception {
        Driver d = drive(new byte[4 * 512], false, VirtioBlk.CacheType.UNSAFE);
        ram.ram.set(U32, HEADER, VirtioBlk.T_IN);
        d.submit(new long[] {HEADER, 16, 0}, new long[] {DATA, 512, 0}); // no writable status at the end
        assertEquals(VirtioMmio.STATUS_NEEDS_RESET, d.reg(0x070) & VirtioMmio.STATUS_NEEDS_RESET);
    }
}
