package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import io.cloister.vmm.StandaloneVm;

/** The guests in guests/ run on the emulator and report what the hardware would. */
class GuestsTest {
    final X86Engine engine = new X86Engine();

    @Test
    void hello() throws Exception {
        StandaloneVm.Result r = Guests.run(engine, "hello.elf", "");
        assertEquals("Hello from a Cloister guest!\n", r.console(), r.status());
        assertEquals("guest exited with status 0", r.status());
        assertEquals(0, r.exitCode());
    }

    @Test
    void exceptionsAndPaging() throws Exception {
        StandaloneVm.Result r = Guests.run(engine, "exceptions.elf", "");
        assertEquals("guest exited with status 0", r.status(), r.console());
        assertTrue(r.console().endsWith("exceptions: 0 failures\n"), r.console());
        assertEquals(13, r.console().lines().filter(l -> l.startsWith("ok ")).count(), r.console());
    }

    /** guests/rings: ring 3 by IRETQ, SYSCALL/SYSRETQ, INT 0x80, user page faults resumed, #GP checks, an unknown MSR, #DF on IST1. */
    @Test
    void ringsAndSystemCalls() throws Exception {
        StandaloneVm.Result r = Guests.run(engine, "rings.elf", "");
        assertEquals("guest exited with status 0", r.status(), r.console());
        assertTrue(r.console().endsWith("rings: 0 failures\n"), r.console());
        assertTrue(r.console().contains("ring 3 writes this line through syscall\n"), r.console());
        assertEquals(11, r.console().lines().filter(l -> l.startsWith("ok ")).count(), r.console());
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
        StandaloneVm.Result r = Guests.run(refusing, "hello.elf", "");
        assertEquals("", r.console());
        assertTrue(r.failed() && r.status().startsWith("triple fault"), r.status());
        assertTrue(asked.contains(0x117000L), "the engine asks the backend when it maps a page: " + asked);
    }

    /**
     * The interpreter, the decoded path with every block compiled on first sight (faults and exits
     * land inside blocks), and the decoded path with blocks compiled in the background, run whole
     * guests to the same console, exit status and retired instruction count.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"hello.elf,''", "workload.elf,iterations=20", "chase.elf,iterations=2", "exceptions.elf,''", "demo.elf,''",
        "insns.elf,''", "rings.elf,''"})
    void compiledBlocksRetireWhatTheInterpreterRetires(String guest, String cmdline) throws Exception {
        StandaloneVm.Result interpreted = Guests.run(new X86Engine(false), guest, cmdline);
        StandaloneVm.Result compiled = Guests.run(new X86Engine(true, 1), guest, cmdline);
        assertEquals(interpreted.console(), compiled.console());
        assertEquals(interpreted.status(), compiled.status());
        assertEquals(interpreted.instructions(), compiled.instructions(), "retired instructions");
        // Blocks compiled in the background after 8 runs, installed at whatever later run they arrive.
        StandaloneVm.Result background = Guests.run(new X86Engine(true, 8), guest, cmdline);
        assertEquals(interpreted.console(), background.console());
        assertEquals(interpreted.status(), background.status());
        assertEquals(interpreted.instructions(), background.instructions(), "retired instructions, background compiles");
        assertTrue(interpreted.instructions() > 1000, interpreted.toString());
    }

    @Test
    void workloadMatchesTheNativeChecksum() throws Exception {
        StandaloneVm.Result r = Guests.run(engine, "workload.elf", "iterations=10");
        // guests/workload/native.c, compiled for the host, prints the same line.
        assertEquals("workload: 10 iterations, checksum 0x0000000003f98451\n", r.console(), r.status());
        assertEquals(0, r.exitCode());
    }

    @Test
    void chaseMatchesTheNativeChecksum() throws Exception {
        StandaloneVm.Result r = Guests.run(engine, "chase.elf", "iterations=10");
        // guests/chase/native.c, compiled for the host (make -C guests bin/chase-native), prints the same line.
        assertEquals("chase: 10 iterations, checksum 0x2954257eaefb4166\n", r.console(), r.status());
        assertEquals(0, r.exitCode());
    }
}
