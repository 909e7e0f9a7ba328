package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import io.cloister.testkit.GuestRunner;

/**
 * QEMU TCG as the reference machine: the same guest ELF runs under qemu-system-x86_64 -M microvm
 * and on the emulator; serial output and exit status must be the same. Skipped where QEMU is not
 * installed (.ci/run installs it).
 */
class QemuDifferentialTest {
    static Path qemu() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir, "qemu-system-x86_64");
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    @ParameterizedTest
    @CsvSource({"hello.elf,''", "workload.elf,iterations=25", "exceptions.elf,''"})
    void sameOutputAsQemu(String guest, String cmdline) throws Exception {
        Path qemu = qemu();
        assumeTrue(qemu != null, "qemu-system-x86_64 is not installed");
        Path elf = GuestRunner.guests().resolve("bin").resolve(guest);
        Process p = new ProcessBuilder(List.of(qemu.toString(), "-M", "microvm,accel=tcg", "-cpu", "max", "-m", "16", "-nodefaults",
                "-nographic", "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel",
                elf.toString(), "-append", cmdline)).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String qemuOut = new String(p.getInputStream().readAllBytes()).replace("\r\n", "\n");
        assumeTrue(p.waitFor(120, TimeUnit.SECONDS), "QEMU did not finish");
        GuestRunner.Result ours = GuestRunner.run(new X86Engine(), elf, 16 << 20, cmdline);
        assertEquals(qemuOut, ours.console(), ours.stop());
        assertEquals(p.exitValue(), ours.exitStatus(), "isa-debug-exit status");
    }
}
