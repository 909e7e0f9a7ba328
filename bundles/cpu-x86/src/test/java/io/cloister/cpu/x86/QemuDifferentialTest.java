package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.opentest4j.AssertionFailedError;

import io.cloister.testkit.GuestImages;
import io.cloister.vmm.StandaloneVm;

/**
 * QEMU TCG as the reference machine: the same guest ELF runs under qemu-system-x86_64 -M microvm
 * and on the emulator; serial output and exit status must be the same. Skipped, with the reason on
 * the console, where QEMU is not installed (.ci/run installs it). A QEMU that does not finish fails
 * the test and is killed.
 */
class QemuDifferentialTest {
    /** Generous: each guest finishes in well under a second of TCG. */
    static final Duration QEMU_LIMIT = Duration.ofSeconds(120);

    static Path qemu() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir, "qemu-system-x86_64");
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** The path of QEMU, or a skip whose reason also goes to the console (a skip in a report alone goes unseen). */
    static Path qemuOrSkip() {
        Path qemu = qemu();
        if (qemu == null) {
            System.err.println("QemuDifferentialTest: skipped, qemu-system-x86_64 is not on the PATH (install qemu-system-x86)");
        }
        assumeTrue(qemu != null, "qemu-system-x86_64 is not installed");
        return qemu;
    }

    /** What a finished process printed and its exit status. */
    record Finished(String out, int exitValue) {
    }

    /**
     * Runs {@code command} with standard output to a file (so nothing blocks on a full pipe), waits
     * at most {@code limit}; a process still running then fails the calling test. In every case the
     * process is gone when this returns.
     */
    static Finished runBounded(List<String> command, Duration limit) throws Exception {
        Path out = Files.createTempFile("qemu-differential", ".out");
        Process p = null;
        try {
            p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                fail(command.get(0) + " did not finish within " + limit.toSeconds() + " s; killed. Output so far:\n"
                        + Files.readString(out));
            }
            return new Finished(Files.readString(out).replace("\r\n", "\n"), p.exitValue());
        } finally {
            if (p != null) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
            Files.deleteIfExists(out);
        }
    }

    @ParameterizedTest
    @CsvSource({"hello.elf,''", "workload.elf,iterations=25", "chase.elf,iterations=3", "mpi.elf,iterations=40", "exceptions.elf,''", "insns.elf,''", "apictimer.elf,''",
        "rings.elf,msrcheck=0"}) // QEMU's TCG reads unknown MSRs as 0 instead of raising #GP
    void sameOutputAsQemu(String guest, String cmdline) throws Exception {
        Path qemu = qemuOrSkip();
        Path elf = GuestImages.of(guest);
        Finished q = runBounded(List.of(qemu.toString(), "-M", "microvm,accel=tcg", "-cpu", "max", "-m", "16", "-nodefaults",
                "-nographic", "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel",
                elf.toString(), "-append", cmdline), QEMU_LIMIT);
        StandaloneVm.Result ours = Guests.run(new X86Engine(), guest, cmdline);
        assertEquals(q.out(), ours.console(), ours.status());
        // isa-debug-exit: QEMU exits with (v << 1) | 1, Cloister's VM with v.
        assertEquals("guest exited with status " + (q.exitValue() >> 1), ours.status(), "isa-debug-exit status");
    }

    /**
     * Deterministic time on both sides (QEMU's -icount shift=N,sleep=off; Cloister's icount): the
     * timers guest counts PIT and LAPIC timer interrupts while halting and while spinning, and the
     * counts depend only on the instructions retired, so they must be the same.
     */
    @ParameterizedTest
    @CsvSource({"0", "2"})
    void timerCountsOnDeterministicTimeAreQemus(int shift) throws Exception {
        Path qemu = qemuOrSkip();
        Path elf = GuestImages.of("timers.elf");
        Finished q = runBounded(List.of(qemu.toString(), "-M", "microvm,accel=tcg", "-cpu", "max", "-m", "16", "-nodefaults",
                "-nographic", "-no-reboot", "-serial", "stdio", "-icount", "shift=" + shift + ",sleep=off", "-device",
                "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", elf.toString(), "-append", ""), QEMU_LIMIT);
        StandaloneVm.Result ours = Guests.run(new X86Engine(), "timers.elf", "", shift);
        assertTrue(q.out().contains("hlt: pit 50 lapic "), q.out());
        assertEquals(q.out(), ours.console(), ours.status());
    }

    /**
     * guests/sipi on four vCPUs: APs started by INIT and SIPI into a real-mode trampoline, through
     * 16-bit code and protected mode to long mode, then IPIs; QEMU (-smp 4) prints the same lines.
     */
    @Test
    void apsStartedByInitAndSipiAsOnQemu() throws Exception {
        Path qemu = qemuOrSkip();
        Finished q = runBounded(List.of(qemu.toString(), "-M", "microvm,accel=tcg", "-cpu", "max", "-smp", "4", "-m", "16",
                "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                "-kernel", GuestImages.of("sipi.elf").toString(), "-append", "cpus=4"), QEMU_LIMIT);
        StandaloneVm.Result ours = InterruptGuestTest.runWithVcpus("sipi.elf", "cpus=4", 4);
        assertEquals(q.out(), ours.console(), ours.status());
        assertEquals(InterruptGuestTest.SIPI_OUTPUT, q.out(), "QEMU: the output the in-process test expects");
        assertEquals("guest exited with status " + (q.exitValue() >> 1), ours.status(), "isa-debug-exit status");
    }

    /** The harness itself: a reference process that hangs fails the test, and is not left running. */
    @Test
    void aHungReferenceFailsTheTestAndIsKilled() throws Exception {
        Path pidFile = Files.createTempFile("hung", ".pid");
        try {
            AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> runBounded(
                    List.of("sh", "-c", "echo $$ > " + pidFile + "; echo started; exec sleep 600"), Duration.ofSeconds(2)));
            assertTrue(e.getMessage().contains("did not finish") && e.getMessage().contains("started"), e.getMessage());
            long pid = Long.parseLong(Files.readString(pidFile).trim());
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "process " + pid + " still running");
        } finally {
            Files.deleteIfExists(pidFile);
        }
    }
}
