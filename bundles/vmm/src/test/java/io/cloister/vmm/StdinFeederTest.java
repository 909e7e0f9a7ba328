package io.cloister.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

/** stdin to the guest's console: QEMU's Ctrl-A keys from a terminal, bytes as they are from a pipe, and flow control. */
class StdinFeederTest {
    final ConsoleIn in = new ConsoleIn();
    final AtomicInteger quits = new AtomicInteger();
    final ByteArrayOutputStream err = new ByteArrayOutputStream();

    StdinFeeder feeder(boolean terminal) {
        return new StdinFeeder(in, terminal, quits::incrementAndGet, new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    static boolean feed(StdinFeeder f, String s) throws InterruptedException {
        byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
        return f.feed(b, b.length);
    }

    String taken() {
        StringBuilder sb = new StringBuilder();
        int b;
        while ((b = in.read()) >= 0) {
            sb.append((char) b);
        }
        return sb.toString();
    }

    @Test
    void fromATerminalCtrlACtrlASendsOneCtrlAAndOtherKeysAfterCtrlAAreDropped() throws Exception {
        StdinFeeder f = feeder(true);
        assertTrue(feed(f, "a\u0001\u0001b\u0001zc"));
        assertEquals("a\u0001bc", taken());
        assertTrue(feed(f, "\u0001h"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("C-a x    exit the VMM"), "Ctrl-A h lists the keys");
        assertEquals(0, quits.get());
    }

    @Test
    void ctrlAXQuitsAfterSendingWhatCameBefore() throws Exception {
        StdinFeeder f = feeder(true);
        assertTrue(feed(f, "ls\u0001"), "a Ctrl-A at the end of a read waits for the next key");
        assertFalse(feed(f, "xmore"));
        assertEquals(1, quits.get());
        assertEquals("ls", taken());
    }

    @Test
    void fromAPipeEveryByteGoesAsItIs() throws Exception {
        StdinFeeder f = feeder(false);
        assertTrue(feed(f, "\u0001x\u0001\u0001"));
        assertEquals("\u0001x\u0001\u0001", taken());
        assertEquals(0, quits.get());
    }

    @Test
    void aFullBufferHoldsTheWriterBackAndLosesNothing() throws Exception {
        byte[] lots = new byte[ConsoleIn.CAPACITY + 100];
        for (int i = 0; i < lots.length; i++) {
            lots[i] = (byte) i;
        }
        Thread writer = Thread.ofPlatform().start(() -> {
            try {
                in.offer(lots, 0, lots.length);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        long deadline = System.currentTimeMillis() + 30_000;
        while (!(in.waiting() == ConsoleIn.CAPACITY && writer.getState() == Thread.State.WAITING)) {
            assertTrue(System.currentTimeMillis() < deadline, "the writer fills the buffer and waits");
            Thread.sleep(1);
        }
        for (int i = 0; i < lots.length; i++) {
            int b;
            while ((b = in.read()) < 0) {
                assertTrue(System.currentTimeMillis() < deadline, "byte " + i + " comes");
                Thread.onSpinWait();
            }
            assertEquals(i & 0xff, b, "byte " + i);
        }
        writer.join(30_000);
        assertFalse(writer.isAlive());
    }

    /** stdin as a test types it: a read waits for the first byte, available() says what is ready, as a pipe's. */
    static final class Keys extends java.io.InputStream {
        private final java.util.ArrayDeque<Byte> bytes = new java.util.ArrayDeque<>();

        synchronized void type(String s) {
            for (byte b : s.getBytes(StandardCharsets.ISO_8859_1)) {
                bytes.add(b);
            }
            notifyAll();
        }

        @Override
        public synchronized int read() throws java.io.IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public synchronized int read(byte[] b, int off, int len) throws java.io.IOException {
            while (bytes.isEmpty()) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    throw new java.io.InterruptedIOException();
                }
            }
            int n = 0;
            while (n < len && !bytes.isEmpty()) {
                b[off + n++] = bytes.remove();
            }
            return n;
        }

        @Override
        public synchronized int available() {
            return bytes.size();
        }
    }

    /**
     * The feeder's thread ends with its VM and leaves stdin alone. One blocked in a read took the
     * next bytes: in the test JVM, Surefire's acknowledgement of the end of the tests (30 s lost).
     */
    @Test
    void aFeederEndsWithItsVmAndLeavesStdinToItsNextReader() throws Exception {
        Keys stdin = new Keys();
        Thread t = feeder(false).start(stdin);
        stdin.type("ab");
        long deadline = System.currentTimeMillis() + 30_000;
        while (in.waiting() < 2) {
            assertTrue(System.currentTimeMillis() < deadline, "the bytes reach the console");
            Thread.sleep(1);
        }
        in.close(); // the VM ended
        t.join(30_000);
        assertFalse(t.isAlive(), "the feeder ends when its VM does, not blocked in a read of stdin");
        stdin.type("c");
        assertEquals(1, stdin.available(), "a byte after the VM's end stays for stdin's next reader");
    }

    @Test
    void aStoppedFeederEndsAndReadsNoMore() throws Exception {
        Keys stdin = new Keys();
        StdinFeeder f = feeder(false);
        Thread t = f.start(stdin);
        f.stop(); // the run is over, although its VM did not close its console (it never booted)
        t.join(30_000);
        assertFalse(t.isAlive());
        stdin.type("c");
        assertEquals(1, stdin.available());
        assertEquals("", taken());
    }

    @Test
    void aClosedConsoleEndsTheFeeding() throws Exception {
        in.close();
        assertFalse(feed(feeder(false), "late"));
    }

    @Test
    void theListenerHearsOfBytesTypedBeforeAndAfterIt() throws Exception {
        AtomicInteger told = new AtomicInteger();
        assertTrue(feed(feeder(false), "early"));
        in.onAvailable(told::incrementAndGet);
        assertEquals(1, told.get(), "bytes waiting when the device came");
        assertTrue(feed(feeder(false), "x"));
        assertEquals(2, told.get());
    }
}
