package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.cpu.InstructionClock;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * A compiled block whose taken branch goes back to one of its instructions runs its loop inside the block
 * (DecodedPath.loopBack): the guest must not be able to tell. Every instruction is counted, a
 * timer deadline is seen at the first back edge that reaches it, as at a block's end, and a
 * request from another thread ends the loop with the vCPU's state whole.
 */
class CompiledLoopTest {
    /** {@code add eax, 1; jnz start}: eax counts the iterations until it wraps (about 4 G of them). */
    private static final byte[] COUNT_UP = bytes(
            0x83, 0xc0, 0x01, // 1000: add eax, 1
            0x75, 0xfb, // 1003: jnz 1000
            0xf4); // 1005: hlt

    /**
     * {@code mov ecx, 100000; add [0x3000], ecx; dec ecx; jnz} with a store in the body: a write each
     * iteration; the loop's head is the block's second instruction.
     */
    private static final byte[] SUM = bytes(
            0xb9, 0xa0, 0x86, 0x01, 0x00, // 1000: mov ecx, 100000
            0x01, 0x0c, 0x25, 0x00, 0x30, 0x00, 0x00, // 1005: add [0x3000], ecx
            0xff, 0xc9, // 100c: dec ecx
            0x75, 0xf5, // 100e: jnz 1005
            0xf4); // 1010: hlt

    /** Divides 100 by ecx = 5, 4, ... 0: #DE in the sixth iteration of a loop whose head is mid-block. */
    private static final byte[] DIVIDE_DOWN = bytes(
            0xb9, 0x05, 0x00, 0x00, 0x00, // 1000: mov ecx, 5
            0xb8, 0x64, 0x00, 0x00, 0x00, // 1005: mov eax, 100
            0x31, 0xd2, // 100a: xor edx, edx
            0xf7, 0xf1, // 100c: div ecx
            0xff, 0xc9, // 100e: dec ecx
            0x79, 0xf3, // 1010: jns 1005
            0xf4); // 1012: hlt

    /** Ten thousand iterations with an if inside: eax += 7 on odd ecx (a branch forward within the block), eax += 1 always. */
    private static final byte[] ODD_SEVENS = bytes(
            0xb9, 0x10, 0x27, 0x00, 0x00, // 1000: mov ecx, 10000
            0x31, 0xc0, // 1005: xor eax, eax
            0xf6, 0xc1, 0x01, // 1007: test cl, 1
            0x74, 0x03, // 100a: jz 100f
            0x83, 0xc0, 0x07, // 100c: add eax, 7
            0x83, 0xc0, 0x01, // 100f: add eax, 1
            0xff, 0xc9, // 1012: dec ecx
            0x75, 0xf1, // 1014: jnz 1007
            0xf4); // 1016: hlt

    /** DIVIDE_DOWN with a branch forward inside the loop (over an inc of eax on odd ecx) before the faulting div. */
    private static final byte[] DIVIDE_DOWN_SKIPPING = bytes(
            0xb9, 0x05, 0x00, 0x00, 0x00, // 1000: mov ecx, 5
            0xb8, 0x64, 0x00, 0x00, 0x00, // 1005: mov eax, 100
            0xf6, 0xc1, 0x01, // 100a: test cl, 1
            0x74, 0x02, // 100d: jz 1011
            0xff, 0xc0, // 100f: inc eax
            0x31, 0xd2, // 1011: xor edx, edx
            0xf7, 0xf1, // 1013: div ecx
            0xff, 0xc9, // 1015: dec ecx
            0x79, 0xec, // 1017: jns 1005
            0xf4); // 1019: hlt

    /** A while loop as compilers lay it out: its test at the top, a JMP back at the bottom. */
    private static final byte[] WHILE = bytes(
            0xb9, 0xe8, 0x03, 0x00, 0x00, // 1000: mov ecx, 1000
            0x85, 0xc9, // 1005: test ecx, ecx
            0x74, 0x07, // 1007: jz 1010
            0x83, 0xc0, 0x03, // 1009: add eax, 3
            0xff, 0xc9, // 100c: dec ecx
            0xeb, 0xf5, // 100e: jmp 1005
            0xf4); // 1010: hlt

    private static X86Vcpu vcpu(TestGuest g, byte[] code) {
        return vcpu(g, code, true);
    }

    private static X86Vcpu vcpu(TestGuest g, byte[] code, boolean decodedCache) {
        g.memory.write(0x1000, MemorySegment.ofArray(code));
        X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0, decodedCache);
        cpu.compileThreshold = 1; // compiled before the first run
        return cpu;
    }

    @Test
    void theLoopGoesRoundInsideItsBlockAndEveryInstructionCounts() throws Exception {
        try (TestGuest g = new TestGuest("loop", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = vcpu(g, SUM);
            Exit e = cpu.run();
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(1 + 3 * 100_000 + 1, cpu.instructions(), cpu.statistics());
            byte[] sum = new byte[8];
            g.memory.read(0x3000, MemorySegment.ofArray(sum));
            long expected = 100_000L * 100_001 / 2 & 0xffffffffL; // a 32-bit add: the sum modulo 2^32
            assertEquals(expected, java.nio.ByteBuffer.wrap(sum).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(), cpu.statistics());
            // Round inside the block, leaving it only when its budget is spent (or at the loop's end).
            assertTrue(cpu.loopsRun >= 99_000, cpu.statistics());
            assertTrue(cpu.blockRuns <= 100_000 / (DecodedPath.LOOP_MAX - 1) + 3, cpu.statistics());
        }
    }

    @Test
    void aTimerDeadlineInsideTheLoopIsSeenAtTheNextBackEdge() throws Exception {
        try (TestGuest g = new TestGuest("loop", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = vcpu(g, COUNT_UP);
            long deadline = 50_001; // odd: in the middle of an iteration (two instructions each)
            long[] seen = {-1, -1, -1};
            cpu.icount = new InstructionClock() {
                private long next = deadline;

                @Override
                public long nextDeadline() {
                    return next;
                }

                @Override
                public boolean reached(long retired, boolean idle) {
                    seen[0] = retired;
                    seen[1] = cpu.r[X86Vcpu.RAX];
                    seen[2] = cpu.rip;
                    next = Long.MAX_VALUE;
                    cpu.requestExit(); // done: the vCPU returns
                    return true;
                }
            };
            Exit e = cpu.run();
            assertTrue(e instanceof Exit.Interrupted, e.toString());
            // Seen at the first instruction boundary a block can stop at after the deadline: one instruction
            // later, at the back edge, with eax and rip those of that boundary.
            assertEquals(deadline + 1, seen[0], cpu.statistics());
            assertEquals(seen[0] / 2, seen[1]);
            assertEquals(0x1000, seen[2]);
            assertTrue(cpu.loopsRun > 0, cpu.statistics());
        }
    }

    @Test
    void anExitRequestedByAnotherThreadEndsTheLoopWithItsStateWhole() throws Exception {
        try (TestGuest g = new TestGuest("loop", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = vcpu(g, COUNT_UP);
            CompletableFuture<Exit> run = CompletableFuture.supplyAsync(cpu::run);
            Thread.sleep(200);
            cpu.requestExit();
            Exit e = run.get(10, TimeUnit.SECONDS);
            assertTrue(e instanceof Exit.Interrupted, e.toString());
            long n = cpu.r[X86Vcpu.RAX];
            assertTrue(n > 1000, "the loop ran: " + cpu.statistics());
            // Stopped at a boundary: after a whole iteration (at the loop's start) or after its add.
            if (cpu.rip == 0x1000) {
                assertEquals(2 * n, cpu.instructions(), cpu.statistics());
            } else {
                assertEquals(0x1003, cpu.rip);
                assertEquals(2 * n - 1, cpu.instructions(), cpu.statistics());
            }
        }
    }

    @Test
    void aFaultInALaterIterationLeavesWhatTheInterpreterLeaves() throws Exception {
        asTheInterpreter(DIVIDE_DOWN);
    }

    @Test
    void aBranchForwardInsideTheBlockSkipsItsInstructionsUncounted() throws Exception {
        X86Vcpu cpu = asTheInterpreter(ODD_SEVENS);
        assertEquals(45_000, cpu.r[X86Vcpu.RAX]);
        assertTrue(cpu.blockRuns < 100, "the if stays inside the block: " + cpu.statistics());
    }

    @Test
    void aJumpBackAtTheBottomGoesRoundInsideTheBlock() throws Exception {
        X86Vcpu cpu = asTheInterpreter(WHILE);
        assertEquals(3000, cpu.r[X86Vcpu.RAX]);
        assertTrue(cpu.loopsRun >= 990 && cpu.blockRuns < 20, cpu.statistics());
    }

    @Test
    void aFaultAfterABranchForwardLeavesWhatTheInterpreterLeaves() throws Exception {
        asTheInterpreter(DIVIDE_DOWN_SKIPPING);
    }

    /** Runs the code with the interpreter alone, then compiled, and compares their ends; returns the compiled vCPU. */
    private static X86Vcpu asTheInterpreter(byte[] code) throws Exception {
        String[] outcome = new String[2];
        X86Vcpu compiled = null;
        for (int mode = 0; mode < 2; mode++) {
            try (TestGuest g = new TestGuest("loop", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = vcpu(g, code, mode == 1);
                Exit e = cpu.run();
                cpu.materialize();
                outcome[mode] = e + " retired=" + cpu.instructions() + " rip=" + Long.toHexString(cpu.rip) + " rcx=" + cpu.r[X86Vcpu.RCX]
                        + " rax=" + cpu.r[X86Vcpu.RAX] + " rflags=" + Long.toHexString(cpu.rflags);
                if (mode == 1) {
                    assertTrue(cpu.loopsRun >= 4, cpu.statistics());
                    compiled = cpu;
                }
            }
        }
        assertEquals(outcome[0], outcome[1]);
        return compiled;
    }
}
