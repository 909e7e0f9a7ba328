package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

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

    /** Runs {@code code} in {@code mode} until it halts, which must be at its end. */
    private static X86Vcpu runToHalt(TestGuest g, byte[] code, int mode) {
        X86Vcpu cpu = cpu(g, code, mode);
        Exit e = cpu.run();
        while (!(e instanceof Exit.Halt)) {
            e = cpu.run();
        }
        assertEquals(LongMode.CODE + code.length, cpu.rip, "halted at the end: " + e);
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
                X86Vcpu cpu = runToHalt(g, STRING_LOOP, mode);
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
     * A loop's block whose forms' helpers read and write the register array themselves (MUL, DIV,
     * CQO, CDQ, BSF, BSR) between forms it emits inline (ADD, a shift by CL, MOV into AH, PUSH and
     * POP, IMUL, LEA), 50 rounds, so that values cross both ways and the back edge; every register
     * as the interpreter leaves it. (It guarded registers held in JVM locals, measured in session
     * 29 and not kept: a block that holds them must load them again after such a helper.)
     */
    private static final byte[] ARRAY_HELPERS_LOOP = bytes(
            0x41, 0xbb, 0x32, 0x00, 0x00, 0x00, // 1000: mov r11d, 50
            0xb8, 0x78, 0x56, 0x34, 0x12, // 1006: mov eax, 0x12345678
            0xb9, 0x00, 0x01, 0x00, 0x00, // 100b: mov ecx, 0x100
            0xbb, 0x07, 0x00, 0x00, 0x00, // 1010: mov ebx, 7
            0x48, 0xf7, 0xe3, // 1015: mul rbx
            0x48, 0x01, 0xc8, // 1018: add rax, rcx
            0x48, 0x99, // 101b: cqo
            0xb9, 0x67, 0x45, 0x23, 0x01, // 101d: mov ecx, 0x1234567
            0x48, 0xf7, 0xf1, // 1022: div rcx
            0x4c, 0x0f, 0xbc, 0xc0, // 1025: bsf r8, rax
            0x4c, 0x0f, 0xbd, 0xca, // 1029: bsr r9, rdx
            0x48, 0xd3, 0xe0, // 102d: shl rax, cl
            0x88, 0xd4, // 1030: mov ah, dl
            0x50, // 1032: push rax
            0x5e, // 1033: pop rsi
            0x48, 0x6b, 0xfe, 0x03, // 1034: imul rdi, rsi, 3
            0x99, // 1038: cdq
            0x4c, 0x8d, 0x54, 0x70, 0x05, // 1039: lea r10, [rax + rsi * 2 + 5]
            0x4c, 0x01, 0xd5, // 103e: add rbp, r10
            0x41, 0xff, 0xcb, // 1041: dec r11d
            0x75, 0xc0, // 1044: jnz 1006
            0xf4); // 1046: hlt

    @Test
    void helpersThatUseTheRegisterArrayInsideALoopGiveWhatTheInterpreterGives() throws Exception {
        String[] seen = new String[3];
        for (int mode : new int[] {INTERPRETED, COMPILED, TRACES}) {
            try (TestGuest g = new TestGuest("array-helpers", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = runToHalt(g, ARRAY_HELPERS_LOOP, mode);
                seen[mode] = Arrays.toString(cpu.r) + " rflags=" + Long.toHexString(cpu.rflags) + " retired=" + cpu.instructions();
                if (mode == COMPILED) {
                    assertTrue(cpu.compiledRetired > 50 * 19, cpu.statistics());
                }
            }
        }
        assertEquals(seen[INTERPRETED], seen[COMPILED], "compiled");
        assertEquals(seen[INTERPRETED], seen[TRACES], "traces");
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
    /**
     * A loop of 100 rounds through forms a block runs through the interpreter (SlowForms): LOCK
     * CMPXCHG, XCHG with memory, BT with an immediate, ADC, a 16-bit ADD and REP MOVSB; the same
     * registers, flags and memory as the interpreter and the traces, the loop one compiled block.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void interpreterFormsInsideBlocksGiveWhatTheInterpreterGives(String mode) {
        byte[] code = bytes(
                0xb9, 0x64, 0x00, 0x00, 0x00, // 1000: mov ecx, 100
                0xbe, 0x00, 0x50, 0x00, 0x00, // 1005: mov esi, 0x5000
                0x89, 0xc8, // 100a: mov eax, ecx
                0xf0, 0x0f, 0xb1, 0x16, // 100c: lock cmpxchg [rsi], edx
                0x87, 0x56, 0x08, // 1010: xchg [rsi + 8], edx
                0x0f, 0xba, 0x66, 0x08, 0x03, // 1013: bt dword [rsi + 8], 3
                0x83, 0xd3, 0x00, // 1018: adc ebx, 0
                0xff, 0xc2, // 101b: inc edx
                0x66, 0x01, 0xcb, // 101d: add bx, cx
                0x51, 0x56, // 1020: push rcx; push rsi
                0xb9, 0x10, 0x00, 0x00, 0x00, // 1022: mov ecx, 16
                0xbf, 0x00, 0x51, 0x00, 0x00, // 1027: mov edi, 0x5100
                0xf3, 0xa4, // 102c: rep movsb
                0x5e, 0x59, // 102e: pop rsi; pop rcx
                0x9c, 0x41, 0x58, // 1030: pushf; pop r8
                0xff, 0xc9, // 1033: dec ecx
                0x75, 0xd3, // 1035: jnz 100a
                0xf4); // 1037: hlt
        long[] seen;
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, code);
            Exit e = m.run(a -> -1);
            assertTrue(e instanceof Exit.Halt, e.toString());
            long[] r = m.cpu.r;
            seen = new long[] {r[X86Vcpu.RAX], r[X86Vcpu.RBX], r[X86Vcpu.RDX], r[X86Vcpu.RDI], r[8] & 0x8d5,
                    LongMode.read(m.g, DATA), LongMode.read(m.g, DATA + 8), LongMode.read(m.g, DATA + 0x100), m.cpu.instructions()};
            if (mode.equals("compiled")) {
                assertTrue(m.cpu.compiledRetired > 100 * 17, "the loop compiled whole: " + m.cpu.statistics());
            }
        }
        long[] expected;
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine("interpreted")) {
            LongMode.code(m.g, LongMode.CODE, code);
            assertTrue(m.run(a -> -1) instanceof Exit.Halt);
            long[] r = m.cpu.r;
            expected = new long[] {r[X86Vcpu.RAX], r[X86Vcpu.RBX], r[X86Vcpu.RDX], r[X86Vcpu.RDI], r[8] & 0x8d5,
                    LongMode.read(m.g, DATA), LongMode.read(m.g, DATA + 8), LongMode.read(m.g, DATA + 0x100), m.cpu.instructions()};
        }
        assertEquals(2 + 100 * 18 + 1, expected[8], "the interpreter's count");
        assertEquals(Arrays.toString(expected), Arrays.toString(seen), mode);
    }

    /**
     * REP MOVSB into MMIO inside a block: each byte written is an exit, after which the instruction
     * stops at itself until its count is done; the block ends there and the guest goes on as the
     * interpreter would (the same writes, once each, and the same registers).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void aRepStringFormThatStopsForAnExitEndsItsBlockThere(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0xb9, 0x04, 0x00, 0x00, 0x00, // mov ecx, 4
                    0xbe, 0x00, 0x50, 0x00, 0x00, // mov esi, 0x5000
                    0xbf, 0x00, 0x01, 0xd0, 0xfe, // mov edi, 0xfed00100
                    0xff, 0xc0, // inc eax
                    0xf3, 0xa4, // rep movsb
                    0xff, 0xc0, // inc eax
                    0xf4)); // hlt
            LongMode.write(m.g, DATA, 0x04030201L);
            Exit e = m.run(a -> -1);
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(java.util.List.of("write fed00100/1=1", "write fed00101/1=2", "write fed00102/1=3", "write fed00103/1=4"),
                    m.accesses, mode);
            assertEquals(2, m.cpu.r[X86Vcpu.RAX], mode);
            assertEquals(0, m.cpu.r[X86Vcpu.RCX], mode);
            assertEquals(0xfed00104L, m.cpu.r[X86Vcpu.RDI], mode);
            assertEquals(LongMode.CODE + 22, m.cpu.rip, mode);
        }
    }

    /**
     * Exits from inside a loop's block, as the interpreter leaves them. First an MMIO read after
     * ADD wrote EAX, which leaves the block by an exception (a block that held registers in
     * locals would have to write them back there). Then the same loop with a REP MOVSB into MMIO,
     * which the block runs through its op: an exit per byte, each with RCX, RSI and RDI part way.
     * The accesses and registers are the interpreter's, so every round after an exit saw the right
     * values.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"decoded", "compiled"})
    void exitsFromInsideALoopLeaveWhatTheInterpreterLeaves(String mode) {
        byte[] head = bytes(
                0x41, 0xb8, 0x03, 0x00, 0x00, 0x00, // 1000: mov r8d, 3
                0xbd, 0x00, 0x00, 0xd0, 0xfe, // 1006: mov ebp, 0xfed00000
                0x83, 0xc0, 0x05, // 100b: add eax, 5
                0x8b, 0x5d, 0x00, // 100e: mov ebx, [rbp]: an exit
                0x01, 0xda); // 1011: add edx, ebx
        byte[] mmioRead = Code.join(head, bytes(
                0x01, 0xc7, // 1013: add edi, eax
                0x41, 0xff, 0xc8, // 1015: dec r8d
                0x75, 0xf1, // 1018: jnz 100b
                0xf4)); // 101a: hlt
        byte[] repMovsb = Code.join(head, bytes(
                0xb9, 0x02, 0x00, 0x00, 0x00, // 1013: mov ecx, 2
                0xbe, 0x00, 0x50, 0x00, 0x00, // 1018: mov esi, 0x5000
                0xbf, 0x00, 0x01, 0xd0, 0xfe, // 101d: mov edi, 0xfed00100
                0xf3, 0xa4, // 1022: rep movsb: an exit per byte
                0x01, 0xc7, // 1024: add edi, eax
                0x41, 0xff, 0xc8, // 1026: dec r8d
                0x75, 0xe0, // 1029: jnz 100b
                0xf4)); // 102b: hlt
        for (byte[] code : List.of(mmioRead, repMovsb)) {
            String[] seen = new String[2];
            for (String run : new String[] {"interpreted", mode}) {
                try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(run)) {
                    LongMode.code(m.g, LongMode.CODE, code);
                    LongMode.write(m.g, DATA, 0x0201L);
                    Exit e = m.run(a -> a == 0xfed00000L ? 7 : -1);
                    assertTrue(e instanceof Exit.Halt, e.toString());
                    seen[run.equals("interpreted") ? 0 : 1] = m.accesses + " " + Arrays.toString(m.cpu.r) + " retired="
                            + m.cpu.instructions();
                }
            }
            assertTrue(seen[0].startsWith("[read fed00000/4, " + (code == mmioRead ? "read fed00000/4, read" : "write fed00100/1=1")),
                    seen[0]);
            assertEquals(seen[0], seen[1], mode);
        }
    }
}
