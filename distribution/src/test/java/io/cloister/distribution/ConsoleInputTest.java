package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * stdin of 'vmm run' reaches the guest's COM1: guests/echo takes the UART's receive interrupts
 * (IRQ 4 through the I/O APIC) and echoes what it gets until 'q'. From a pipe the bytes go as they
 * are; from a terminal (a pty made by script(1)) it is raw and Ctrl-A x quits.
 */
class ConsoleInputTest {
    static final Path ECHO = Path.of("../guests/bin/echo.elf").toAbsolutePath().normalize();

    @Test
    void pipedStdinReachesTheGuestByInterrupts() throws Exception {
        Dist.Run r = Dist.vmm("hello, guest\nq", "run", "--kernel", ECHO.toString(), "--engine", "emulator", "--timeout", "60");
        assertEquals(7, r.code(), "7: the bytes came by interrupts\n" + r.out() + r.err());
        assertEquals("echo: ready, q quits\nhello, guest\n\necho: 13 bytes\n", r.out(), r.err());
    }

    /**
     * The end of piped stdin does not end the guest: once the guest has echoed the input's bytes,
     * the VMM goes on reporting it RUNNING (--stats) with stdin at its end, and still runs when
     * the test stops it. (A fixed --timeout 5 counted from the command's start could run out at
     * load 8 before the JVM, the framework and the guest had got the bytes through; a --timeout
     * here is only a bound for a broken run.) The input is closed before the VMM starts reading it,
     * so a VMM that reacted to its end would have done so long before five reports later.
     */
    @Test
    void theEndOfPipedInputLeavesTheGuestRunning() throws Exception {
        Process p = new ProcessBuilder(Dist.VMM.toString(), "run", "--kernel", ECHO.toString(), "--engine", "emulator",
                "--stats", "0.2", "--timeout", "300").start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Thread outReader = Thread.ofPlatform().daemon().start(() -> copy(p.getInputStream(), out));
        Thread errReader = Thread.ofPlatform().daemon().start(() -> copy(p.getErrorStream(), err));
        try {
            try (OutputStream in = p.getOutputStream()) {
                in.write("abc".getBytes(StandardCharsets.US_ASCII));
            } // closed: the end of the input
            Await.until(() -> text(out).contains("abc") || !p.isAlive(), 120_000, "the guest's echo of the piped bytes");
            assertEquals("echo: ready, q quits\nabc", text(out), text(err));
            long echoed = running(text(err));
            Await.until(() -> running(text(err)) >= echoed + 5 || !p.isAlive(), 120_000,
                    "five reports of the guest running after its echo");
            assertTrue(p.isAlive(), "the VMM ended after the end of its input\n" + text(out) + text(err));
        } finally {
            p.destroy();
            p.waitFor(60, TimeUnit.SECONDS);
            p.destroyForcibly();
        }
        outReader.join(10_000);
        errReader.join(10_000);
        assertEquals("echo: ready, q quits\nabc", text(out), "nothing more reached the guest\n" + text(err));
    }

    /** How many times the VMM has reported its guest running (lines of --stats). */
    private static long running(String err) {
        return err.lines().filter(l -> l.matches("vmm: stats: \\S+ RUNNING, .*")).count();
    }

    @Test
    void ctrlAXQuitsFromATerminalAndRestoresIt() throws Exception {
        Path script = Path.of("/usr/bin/script");
        Assumptions.assumeTrue(Files.isExecutable(script), "script(1) (util-linux) is needed to run the VMM on a terminal");
        // script runs the command on a new pty, copying its stdin there and the pty's output to its stdout.
        String command = Dist.VMM + " run --kernel " + ECHO + " --engine emulator --timeout 60; echo \"status=$?\"; stty -a";
        Process p = new ProcessBuilder(script.toString(), "-qec", command, "/dev/null").redirectErrorStream(true).start();
        ByteArrayOutputStream seen = new ByteArrayOutputStream();
        Thread reader = Thread.ofPlatform().daemon().start(() -> copy(p.getInputStream(), seen));
        try (OutputStream keys = p.getOutputStream()) {
            Await.until(() -> text(seen).contains("echo: ready"), 60_000, "the guest's first line");
            keys.write("hi\u0001\u0001".getBytes(StandardCharsets.US_ASCII)); // Ctrl-A Ctrl-A: one Ctrl-A to the guest
            keys.flush();
            Await.until(() -> text(seen).contains("hi\u0001"), 60_000, "the echo of 'hi' and a Ctrl-A");
            keys.write(new byte[] {1, 'x'});
            keys.flush();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "Ctrl-A x ends the VMM: " + text(seen));
        } finally {
            p.destroyForcibly();
        }
        reader.join(10_000);
        String out = text(seen);
        assertTrue(out.contains("status=130"), "Ctrl-A x: exit status 130\n" + out);
        assertTrue(out.contains("vmm: quit (Ctrl-A x)"), out);
        assertTrue(out.contains(" icanon ") && out.contains(" echo "), "the terminal is cooked again after the run:\n" + out);
    }

    private static String text(ByteArrayOutputStream b) {
        synchronized (b) {
            return b.toString(StandardCharsets.ISO_8859_1);
        }
    }

    private static void copy(InputStream in, ByteArrayOutputStream to) {
        byte[] buf = new byte[4096];
        try {
            int n;
            while ((n = in.read(buf)) > 0) {
                synchronized (to) {
                    to.write(buf, 0, n);
                }
            }
        } catch (java.io.IOException e) {
            // the process ended
        }
    }
}
