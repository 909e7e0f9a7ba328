package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
    void exceptionsAndPaging() throws Exception {
        GuestRunner.Result r = GuestRunner.run(engine, bin.resolve("exceptions.elf"), 16 << 20, "");
        assertEquals(1, r.exitStatus(), r.console() + r.stop());
        assertTrue(r.console().endsWith("exceptions: 0 failures\n"), r.console());
        assertEquals(13, r.console().lines().filter(l -> l.startsWith("ok ")).count(), r.console());
    }

    @Test
    void aFaultWithoutAnIdtIsATripleFault() throws Exception {
        // A two-byte guest: ud2 in 32-bit protected mode, no IDT.
        try (io.cloister.testkit.TestGuest g = new io.cloister.testkit.TestGuest("tf", 1 << 20,
                io.cloister.api.restricted.PageState.SHARED)) {
            g.memory.write(0x1000, java.lang.foreign.MemorySegment.ofArray(new byte[] {0x0f, 0x0b})); // ud2
            try (var cpu = engine.createVm(g.view, io.cloister.api.backend.CocoCpu.NONE).createVcpu(0, 0x1000, 0)) {
                var exit = cpu.run();
                assertTrue(exit instanceof io.cloister.api.cpu.Exit.Shutdown s && s.reason().contains("triple fault"), exit.toString());
            }
        }
    }

    /**
     * A page the backend says the guest may not use yet (SNP: not validated, TDX: not accepted)
     * faults on first touch: here the page holding hello's stack, so it cannot even print.
     */
    @Test
    void aPageTheBackendRefusesFaultsOnTouch() throws Exception {
        java.util.List<Long> asked = new java.util.ArrayList<>();
        io.cloister.api.backend.CocoCpu refuseStack = new io.cloister.api.backend.CocoCpu() {
            public boolean mayAccess(long gpa) {
                asked.add(gpa);
                return gpa != 0x117000; // the page below hello's initial stack pointer 0x118000
            }

            public int accessFaultVector() {
                return 20;
            }
        };
        X86Engine refusing = new X86Engine() {
            @Override
            public io.cloister.api.cpu.EngineVm createVm(io.cloister.api.memory.GuestView memory, io.cloister.api.backend.CocoCpu coco) {
                return super.createVm(memory, refuseStack);
            }
        };
        GuestRunner.Result r = GuestRunner.run(refusing, bin.resolve("hello.elf"), 16 << 20, "");
        assertEquals("", r.console());
        assertTrue(r.stop().startsWith("shutdown: triple fault"), r.stop());
        assertTrue(asked.contains(0x117000L), "the engine asks the backend when it maps a page: " + asked);
    }

    /**
     * The interpreter, and the decoded path with every block compiled on first sight (faults and
     * exits land inside blocks), run whole guests to the same console, exit status and retired
     * instruction count.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"hello.elf,''", "workload.elf,iterations=20", "exceptions.elf,''", "demo.elf,''",
        "insns.elf,''"})
    void compiledBlocksRetireWhatTheInterpreterRetires(String guest, String cmdline) throws Exception {
        GuestRunner.Result interpreted = GuestRunner.run(new X86Engine(false), bin.resolve(guest), 16 << 20, cmdline);
        GuestRunner.Result compiled = GuestRunner.run(new X86Engine(true, 1), bin.resolve(guest), 16 << 20, cmdline);
        assertEquals(interpreted.console(), compiled.console());
        assertEquals(interpreted.exitStatus(), compiled.exitStatus());
        assertEquals(interpreted.instructions(), compiled.instructions(), "retired instructions");
        assertTrue(interpreted.instructions() > 1000, interpreted.toString());
    }

    @Test
    void workloadMatchesTheNativeChecksum() throws Exception {
        GuestRunner.Result r = GuestRunner.run(engine, bin.resolve("workload.elf"), 16 << 20, "iterations=10");
        // guests/workload/native.c, compiled for the host, prints the same line.
        assertEquals("workload: 10 iterations, checksum 0x0000000003f98451\n", r.console(), r.stop());
        assertEquals(1, r.exitStatus());
    }
}
