package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * Forms left to the interpreter that compiled blocks run through their ops (BlockCompiler.blockOp,
 * DecodedPath.blockOp): SSE2 moves and compares in the middle of a block and at its start, one
 * RIP-relative, one a store, and one faulting, give what the interpreter and the traces give.
 */
class BlockOpsTest {
    private static final int INTERPRETED = 0, COMPILED = 1, TRACES = 2;
    private static final long DATA = 0x5000;

    private static X86Vcpu cpu(TestGuest g, byte[] code, int mode) {
        X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, LongMode.CODE, 0, mode != INTERPRETED);
        LongMode.enter(cpu, g);
        cpu.cr4 |= FpuInsns.CR4_OSFXSR;
        cpu.compileThreshold = mode == COMPILED ? 1 : Integer.MAX_VALUE; // compiled at first sight, or traces only
        LongMode.code(g, LongMode.CODE, code);
        byte[] data = new byte[64];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i % 7 == 3 ? 0 : 'a' + i);
        }
        g.memory.write(DATA, MemorySegment.ofArray(data));
        return cpu;
    }

    /**
     * A loop of 200 rounds whose first instruction is PXOR (the block starts with a form left to
     * the interpreter): MOVDQU loads (one RIP-relative), PCMPEQB, PMOVMSKB summed into EDX, and a
     * MOVDQU store of which each round's loads see the last round's.
     */
    private static final byte[] STRING_LOOP = bytes(
            0xb9, 0xc8, 0x00, 0x00, 0x00, // 1000: mov ecx, 200
            0xbf, 0x00, 0x50, 0x00, 0x00, // 1005: mov edi, 0x5000
            0x66, 0x0f, 0xef, 0xc0, // 100a: pxor xmm0, xmm0
            0xf3, 0x0f, 0x6f, 0x0f, // 100e: movdqu xmm1, [rdi]
            0x66, 0x0f, 0x74, 0xc8, // 1012: pcmpeqb xmm1, xmm0
            0x66, 0x0f, 0xd7, 0xc1, // 1016: pmovmskb eax, xmm1
            0x01, 0xc2, // 101a: add edx, eax
            0xf3, 0x0f, 0x6f, 0x15, 0xfc, 0x3f, 0x00, 0x00, // 101c: movdqu xmm2, [rip + 0x3ffc] (0x5020)
            0x66, 0x0f, 0xd7, 0xf2, // 1024: pmovmskb esi, xmm2
            0x01, 0xf2, // 1028: add edx, esi
            0x66, 0x0f, 0xeb, 0xca, // 102a: por xmm1, xmm2
            0xf3, 0x0f, 0x7f, 0x4f, 0x20, // 102e: movdqu [rdi + 0x20], xmm1
            0xff, 0xc9, // 1033: dec ecx
            0x75, 0xd3, // 1035: jnz 100a
            0xf4); // 1037: hlt

    @Test
    void sseFormsInsideBlocksGiveWhatTheInterpreterGives() throws Exception {
        long[][] seen = new long[3][];
        for (int mode : new int[] {INTERPRETED, COMPILED, TRACES}) {
            try (TestGuest g = new TestGuest("sse-block", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = cpu(g, STRING_LOOP, mode);
                Exit e = cpu.run();
                while (!(e instanceof Exit.Halt)) {
                    e = cpu.run();
                }
                assertEquals(LongMode.CODE + STRING_LOOP.length, cpu.rip, "halted at the end: " + e);
                seen[mode] = new long[] {cpu.r[X86Vcpu.RDX], cpu.r[X86Vcpu.RSI], cpu.fpu.xmm[2], cpu.fpu.xmm[3],
                        LongMode.read(g, DATA + 0x20), LongMode.read(g, DATA + 0x28), cpu.instructions()};
                if (mode == COMPILED) {
                    // the loop runs as one compiled block, PXOR at its head included
                    assertTrue(cpu.compiledRetired > 200 * 11, cpu.statistics());
                }
            }
        }
        assertEquals(2 + 200 * 12 + 1, seen[INTERPRETED][6]);
        assertEquals(Arrays.toString(seen[INTERPRETED]), Arrays.toString(seen[COMPILED]), "compiled");
        assertEquals(Arrays.toString(seen[INTERPRETED]), Arrays.toString(seen[TRACES]), "traces");
    }

    /**
     * A MOVDQA of a misaligned address in the middle of a block: #GP with the MOVDQA's rip on the
     * handler's stack, the instructions before it counted and its own not, as the interpreter does.
     */
    @Test
    void aFaultInAnSseFormInsideABlockLeavesTheBlockAtThatInstruction() throws Exception {
        byte[] code = bytes(
                0xbf, 0x01, 0x50, 0x00, 0x00, // 1000: mov edi, 0x5001
                0xff, 0xc0, // 1005: inc eax
                0x66, 0x0f, 0xef, 0xc0, // 1007: pxor xmm0, xmm0
                0x66, 0x0f, 0x6f, 0x07, // 100b: movdqa xmm0, [rdi] (misaligned: #GP)
                0xff, 0xc0, // 100f: inc eax
                0xf4); // 1011: hlt
        long[][] seen = new long[3][];
        for (int mode : new int[] {INTERPRETED, COMPILED, TRACES}) {
            try (TestGuest g = new TestGuest("sse-fault", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = cpu(g, code, mode);
                cpu.fpu.xmm[0] = 0x1234;
                Exit e = cpu.run();
                assertTrue(e instanceof Exit.Halt, e.toString());
                assertEquals(LongMode.handler(13) + 1, cpu.rip, "the #GP handler ran");
                long sp = cpu.r[X86Vcpu.RSP];
                assertEquals(LongMode.CODE + 0xb, LongMode.read(g, sp + 8), "the frame's rip: the MOVDQA");
                seen[mode] = new long[] {cpu.r[X86Vcpu.RAX], cpu.fpu.xmm[0], cpu.instructions()};
            }
        }
        assertEquals("[1, 0, 4]", Arrays.toString(seen[INTERPRETED]), "mov, inc and pxor done, then the handler's hlt");
        assertEquals(Arrays.toString(seen[INTERPRETED]), Arrays.toString(seen[COMPILED]), "compiled");
        assertEquals(Arrays.toString(seen[INTERPRETED]), Arrays.toString(seen[TRACES]), "traces");
    }
}
