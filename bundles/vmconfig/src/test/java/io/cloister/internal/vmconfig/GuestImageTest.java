package io.cloister.internal.vmconfig;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GuestImageTest {
    @TempDir
    Path dir;

    static String refused(Path image, long ram) {
        return assertThrows(IllegalArgumentException.class, () -> GuestImage.map(image, ram, Arena.ofAuto())).getMessage();
    }

    @Test
    void aRegularFileIsMappedWhole() throws Exception {
        Path f = Files.write(dir.resolve("k.elf"), new byte[] {1, 2, 3});
        try (Arena arena = Arena.ofConfined()) {
            assertArrayEquals(new byte[] {1, 2, 3}, GuestImage.map(f, 4096, arena).toArray(ValueLayout.JAVA_BYTE));
        }
        assertEquals(3, GuestImage.check(f, 3));
    }

    /** /dev/zero never ends: reading it whole ran the VMM out of heap. */
    @Test
    void aCharacterDeviceIsRefusedUnread() {
        Path zero = Path.of("/dev/zero");
        assumeTrue(Files.exists(zero), "no /dev/zero here");
        assertEquals("guest image /dev/zero is not a regular file (a character device)", refused(zero, 64 << 20));
    }

    /** Opening a FIFO blocks until a writer comes: it is refused before it is opened. */
    @Test
    void aFifoIsRefusedUnopened() throws Exception {
        Path fifo = dir.resolve("fifo");
        Process p;
        try {
            p = new ProcessBuilder("mkfifo", fifo.toString()).start();
        } catch (java.io.IOException e) {
            assumeTrue(false, "no mkfifo here: " + e.getMessage());
            return;
        }
        assumeTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0, "mkfifo failed");
        assertEquals("guest image " + fifo + " is not a regular file (a FIFO)", refused(fifo, 64 << 20));
    }

    /** A sparse file of gigabytes costs nothing on disk, but reading it whole took gigabytes of heap. */
    @Test
    void aFileLargerThanRamIsRefusedUnread() throws Exception {
        Path big = dir.resolve("big.elf");
        try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(3L << 30);
        }
        assertEquals("guest image " + big + " is 3221225472 bytes, more than the guest's RAM (67108864 bytes): it cannot be loaded",
                refused(big, 64 << 20));
        assertEquals("guest image " + big + " is 3221225472 bytes; images of 2 GiB and more are not supported", refused(big, 4L << 30));
    }

    @Test
    void missingFilesAndDirectoriesAreNamed() {
        assertEquals("guest image " + dir.resolve("none") + " cannot be read: no such file", refused(dir.resolve("none"), 4096));
        assertEquals("guest image " + dir + " is not a regular file (a directory)", refused(dir, 4096));
    }

    @Test
    void relativePathsFallBackToHome() {
        assertEquals(Path.of("/opt/c/guests/x.elf"), GuestImage.resolve("guests/x.elf", "/opt/c"));
        assertEquals(Path.of("/abs.elf"), GuestImage.resolve("/abs.elf", "/opt/c"));
    }

    @Test
    void theKernelKindComesFromTheFirstBytes() throws Exception {
        assertEquals("PVH", GuestImage.protocol(java.nio.file.Files.write(dir.resolve("k.elf"), new byte[] {0x7f, 'E', 'L', 'F'})));
        byte[] bz = new byte[0x206];
        System.arraycopy("HdrS".getBytes(java.nio.charset.StandardCharsets.US_ASCII), 0, bz, 0x202, 4);
        assertEquals("bzImage", GuestImage.protocol(java.nio.file.Files.write(dir.resolve("vmlinuz"), bz)));
        Path shortFile = java.nio.file.Files.write(dir.resolve("short"), new byte[0x205]);
        String m = assertThrows(IllegalArgumentException.class, () -> GuestImage.protocol(shortFile)).getMessage();
        assertEquals("guest image " + shortFile + " is neither an ELF kernel with a PVH entry note nor a Linux bzImage (no ELF magic,"
                + " no \"HdrS\" at offset 0x202)", m);
    }
}
