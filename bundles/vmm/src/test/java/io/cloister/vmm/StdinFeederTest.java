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
