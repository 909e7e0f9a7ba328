package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;

import io.cloister.testkit.GuestRunner;

/** The guests in guests/ run on the emulator and report what the hardware would. */
class GuestsTest {
    final X86Engine engine = new X86Engine();
    final Path bin = GuestRunner.guests().resolve("bin");

    @Test
    void hello() throws Exception {
        GuestRunner.Result r = GuestRunner.run(engine, bin.resolve("hello.elf"), 16 << 20, "");
        assertEquals("Hello from a Cloister guest!\n", r.console(), r.stop());
        assertEquals(1, r.exitStatus(), r.stop());
    }

    @Test
    void workloadMatchesTheNativeChecksum() throws Exception {
        GuestRunner.Result r = GuestRunner.run(engine, bin.resolve("workload.elf"), 16 << 20, "iterations=10");
        // guests/workload/native.c, compiled for the host, prints the same line.
        assertEquals("workload: 10 iterations, checksum 0x0000000003f98451\n", r.console(), r.stop());
        assertEquals(1, r.exitStatus());
    }
}
