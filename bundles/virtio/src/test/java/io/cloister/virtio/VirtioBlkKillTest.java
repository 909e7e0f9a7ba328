package io.cloister.virtio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Durability at the device level, with a real process and a real kill: a child JVM drives a
 * Writeback drive as Linux's virtio_blk does (a write, then a flush), says so when the flush is
 * completed in the used ring, and is killed with SIGKILL: the image on the host holds the data.
 * (The same through a Linux guest is LinuxVirtioTest's, once Cloister boots Linux.)
 */
class VirtioBlkKillTest {
    static final long DATA = VirtioBlkTest.DATA;
    static final int SECTOR = 3;

    @TempDir
    Path dir;

    static byte[] data() {
        byte[] b = new byte[2 * 512];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (i * 7 + 1);
        }
        return b;
    }

    /** The child: writes and flushes, says "flushed", and waits to be killed (at most a minute). */
    public static void main(String[] args) throws Exception {
        GuestRam ram = new GuestRam(1 << 20);
        VirtioMmio dev = new VirtioMmio(Driver.BASE, 6, new VirtioBlk(Path.of(args[0]), false, VirtioBlk.CacheType.WRITEBACK, "k"));
        dev.attach(ram);
        Driver d = new Driver(dev, ram, 16, 0x10000).start(-1L);
        byte[] data = data();
        MemorySegment.copy(MemorySegment.ofArray(data), 0, ram.ram, DATA, data.length);
        int write = VirtioBlkTest.request(d, ram, VirtioBlk.T_OUT, SECTOR, new long[] {DATA, data.length, 0})[0];
        int flush = VirtioBlkTest.request(d, ram, VirtioBlk.T_FLUSH, 0)[0];
        System.out.println("write " + write + " flush " + flush);
        System.out.println("flushed");
        System.out.flush();
        Thread.sleep(60_000);
    }

    @Test
    void aFlushedWriteIsInTheImageAfterSigkill() throws Exception {
        Path image = Files.write(dir.resolve("disk.img"), new byte[16 * 512]);
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"), VirtioBlkKillTest.class.getName(),
                image.toString())).redirectErrorStream(true).start();
        StringBuilder out = new StringBuilder();
        try (var in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String l; (l = in.readLine()) != null;) {
                out.append(l).append('\n');
                if (l.equals("flushed")) {
                    p.destroyForcibly(); // SIGKILL: no close, no orderly stop
                    break;
                }
            }
        } finally {
            p.destroyForcibly();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the child did not end");
        }
        assertTrue(out.toString().contains("write 0 flush 0\nflushed\n"), out.toString());
        assertEquals(137, p.exitValue(), "killed by SIGKILL: " + out);
        byte[] after = Files.readAllBytes(image);
        assertArrayEquals(data(), Arrays.copyOfRange(after, SECTOR * 512, SECTOR * 512 + 1024), "the flushed data survived the kill");
        assertArrayEquals(new byte[SECTOR * 512], Arrays.copyOfRange(after, 0, SECTOR * 512), "nothing else written");
    }
}
