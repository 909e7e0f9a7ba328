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

    @Test
    void theEndOfPipedInputLeavesTheGuestRunning() throws Exception {
        Dist.Run r = Dist.vmm("abc", "run", "--kernel", ECHO.toString(), "--engine", "emulator", "--timeout", "5");
        assertEquals(124, r.code(), "the guest waits for more input until --timeout\n" + r.out() + r.err());
        assertEquals("echo: ready, q quits\nabc", r.out(), r.err());
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
