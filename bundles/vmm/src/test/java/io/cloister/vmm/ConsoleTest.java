package io.cloister.vmm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The console between the guest's devices and a target that may be slow, stuck or broken. */
class ConsoleTest {
    /** Generous: the bounds under test are a fraction of a second each. */
    static final Duration BOUND = Duration.ofSeconds(30);
    final List<String> failures = new CopyOnWriteArrayList<>();

    @Test
    void everythingWrittenArrivesInOrder() {
        ByteArrayOutputStream target = new ByteArrayOutputStream();
        Console c = Console.over("test", "vm", target, failures::add);
        byte[] data = new byte[3 * Console.CAPACITY + 12345]; // wraps around the ring several times
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 31 + (i >> 11));
        }
        for (int off = 0; off < data.length; off += 4096) {
            c.write(data, off, Math.min(4096, data.length - off));
            if (off % (Console.CAPACITY / 2) == 0) {
                c.drain(); // a guest writes a byte per exit; this loop would outrun any writer, and drop
            }
        }
        c.write('!');
        c.drain();
        c.close();
        byte[] all = target.toByteArray();
        assertEquals(data.length + 1, all.length);
        assertArrayEquals(data, java.util.Arrays.copyOf(all, data.length));
        assertEquals('!', all[data.length]);
        assertEquals(List.of(), failures);
    }

    /**
     * A target that never takes anything (a TCP listener that does not read) must not hold the
     * guest: writes return, the output is dropped, and the loss is reported once, at the end.
     */
    @Test
    void aStuckTargetNeitherBlocksTheGuestNorTheEnd() {
        CountDownLatch never = new CountDownLatch(1);
        OutputStream stuck = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                try {
                    never.await();
                } catch (InterruptedException e) {
                    throw new IOException("interrupted");
                }
            }

            @Override
            public void close() {
                never.countDown(); // what closing a socket does to a write blocked in it
            }
        };
        Console c = Console.over("tcp:stuck", "vm", stuck, failures::add);
        assertTimeoutPreemptively(BOUND, () -> {
            byte[] chunk = new byte[64 * 1024];
            for (int i = 0; i < 3 * Console.CAPACITY / chunk.length; i++) {
                c.write(chunk, 0, chunk.length);
                c.write('x');
            }
            c.drain();
            c.close();
        });
        assertEquals(1, failures.size(), failures.toString());
        assertTrue(failures.get(0).startsWith("console tcp:stuck lost "), failures.get(0));
    }

    /** A target that fails (a closed connection, /dev/full) is reported once; later output is dropped quietly. */
    @Test
    void aFailingTargetIsReportedOnce() {
        OutputStream full = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("No space left on device");
            }
        };
        Console c = Console.over("file:/dev/full", "vm", full, failures::add);
        assertTimeoutPreemptively(BOUND, () -> {
            for (int i = 0; i < 100_000; i++) {
                c.write('y'); // never throws: the UART would log each
            }
            c.drain();
            c.write('z');
            c.close();
        });
        assertEquals(List.of("console file:/dev/full failed: No space left on device"), failures);
        assertEquals("console file:/dev/full failed: No space left on device", c.failure());
    }

    /** A FIFO without a reader (its open blocks until one comes) holds nothing either: it is opened by the writer. */
    @Test
    void aFifoNobodyReadsHoldsNothing(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("fifo");
        Process p;
        try {
            p = new ProcessBuilder("mkfifo", fifo.toString()).start();
        } catch (IOException e) {
            assumeTrue(false, "no mkfifo here: " + e.getMessage());
            return;
        }
        assumeTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0, "mkfifo failed");
        assertTimeoutPreemptively(BOUND, () -> {
            Console c = Console.over("file:" + fifo, "vm", Console.target("file:" + fifo), failures::add);
            c.write("hello\n".getBytes(), 0, 6);
            c.drain();
            c.close();
        });
        assertEquals(List.of("console file:" + fifo + " lost 6 bytes of the guest's output (it did not take them)"), failures);
    }
}
