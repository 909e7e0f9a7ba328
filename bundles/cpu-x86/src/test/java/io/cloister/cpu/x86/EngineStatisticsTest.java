package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/** The engine's statistics (cloister.x86.stats) count each retired instruction where it ran: compiled, decoded or interpreted. */
class EngineStatisticsTest {
    private static final byte[] LOOP = bytes(
            0xb9, 0xe8, 0x03, 0x00, 0x00, // 1000: mov ecx, 1000
            0x83, 0xc0, 0x01, // 1005: add eax, 1
            0xff, 0xc9, // 1008: dec ecx
            0x75, 0xf9, // 100a: jnz 1005
            0xf4); // 100c: hlt
    private static final long INSTRUCTIONS = 1 + 3 * 1000 + 1;

    private static X86Vcpu run(boolean decodedCache, int threshold) throws Exception {
        try (TestGuest g = new TestGuest("stats", 1 << 20, PageState.SHARED)) {
            g.memory.write(0x1000, MemorySegment.ofArray(LOOP));
            X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0, decodedCache);
            cpu.compileThreshold = threshold;
            Exit e = cpu.run();
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(1000, cpu.r[X86Vcpu.RAX]);
            assertEquals(INSTRUCTIONS, cpu.instructions());
            return cpu;
        }
    }

    @Test
    void compiledBlocksRetireTheLoop() throws Exception {
        X86Vcpu cpu = run(true, 1);
        assertTrue(cpu.compiledRetired >= 3 * 1000 - 3, cpu.statistics());
        assertTrue(cpu.compiledRetired + cpu.decodedRetired <= INSTRUCTIONS, cpu.statistics());
        assertTrue(cpu.blocksInstalled >= 1, cpu.statistics());
        // the loop's block goes round inside itself: a run, or a back edge taken in the block, an iteration
        assertTrue(cpu.blockRuns + cpu.loopsRun >= 1000 && cpu.blockRuns <= cpu.compiledRetired, cpu.statistics());
        assertTrue(cpu.loopsRun >= 900 && cpu.blockRuns < 100, cpu.statistics());
        assertTrue(cpu.statistics().startsWith("3,002 instructions: "), cpu.statistics());
    }

    @Test
    void withoutCompilingTheDecodedPathRetiresIt() throws Exception {
        X86Vcpu cpu = run(true, Integer.MAX_VALUE);
        assertEquals(0, cpu.compiledRetired);
        assertEquals(0, cpu.blocksInstalled);
        assertTrue(cpu.decodedRetired >= 3 * 1000, cpu.statistics());
        assertTrue(cpu.decodedRetired <= INSTRUCTIONS, cpu.statistics());
        assertTrue(cpu.tracesRun >= 1000 && cpu.tracesRun <= cpu.decodedRetired, cpu.statistics()); // a trace an iteration at least
    }

    @Test
    void theInterpreterAloneRetiresAllWithoutTheDecodedCache() throws Exception {
        X86Vcpu cpu = run(false, 1);
        assertEquals(0, cpu.compiledRetired + cpu.decodedRetired);
        assertEquals("3,002 instructions: 0.0 % compiled, 0.0 % decoded, 100.0 % interpreted; 0 blocks compiled; 0 block runs, 0 traces; 0 loops; 0 native misses",
                cpu.statistics());
    }

    /** The guest-side profile (cloister.x86.ripSamples) counts rips inside the guest's code (the loop, then the halt), written when the vCPU closes. */
    @Test
    void ripSamplesFallInsideTheLoop(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        byte[] longLoop = LOOP.clone();
        longLoop[1] = 0x00; // mov ecx, 0x2000000: about 100 M instructions
        longLoop[2] = 0x00;
        longLoop[3] = 0x00;
        longLoop[4] = 0x02;
        try (TestGuest g = new TestGuest("samples", 1 << 20, PageState.SHARED)) {
            g.memory.write(0x1000, MemorySegment.ofArray(longLoop));
            X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0, true);
            cpu.compileThreshold = 1;
            cpu.ripSamples = dir.resolve("rips").toString();
            assertTrue(cpu.run() instanceof Exit.Halt);
            cpu.close();
        }
        java.util.List<String> lines = java.nio.file.Files.readAllLines(dir.resolve("rips.0"));
        assertTrue(!lines.isEmpty(), "samples written");
        long total = 0;
        for (String l : lines) {
            String[] f = l.split(" ");
            long rip = Long.parseLong(f[0], 16);
            assertTrue(rip >= 0x1000 && rip <= 0x100d, l); // the loop, or halted after its HLT until close()
            total += Long.parseLong(f[1]);
        }
        assertTrue(total > 0);
    }
}
