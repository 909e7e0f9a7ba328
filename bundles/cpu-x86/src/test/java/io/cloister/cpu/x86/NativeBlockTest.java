package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * Native blocks (NativeBlockCompiler): a loop of the forms they cover, in 64-bit code with paging
 * on (so that the fast tables take its loads and stores), leaves what the interpreter leaves:
 * registers, flags, memory, the instruction count; its block is native; and its blocks chain
 * into each other without the dispatcher. The whole engine suite runs with native blocks too (they are on by default), against the
 * interpreter in the differential and fuzz tests.
 */
class NativeBlockTest {
    private static final long DATA = 0x5000;

    /**
     * 1,000 rounds: a load and a store through [rsi + rcx * 8], ADD, SHL, a byte CMP, SETB, MOVZX,
     * PUSH and POP, IMUL, SHL by CL, INC of memory, a CALL to a function that XORs and RETurns, DEC
     * and JNZ back.
     */
    private static final byte[] LOOP = bytes(
            0xb9, 0xe8, 0x03, 0x00, 0x00, // 1000: mov ecx, 1000
            0x31, 0xc0, // 1005: xor eax, eax
            0x48, 0xc7, 0xc6, 0x00, 0x50, 0x00, 0x00, // 1007: mov rsi, 0x5000
            0x48, 0x8b, 0x14, 0xce, // 100e: mov rdx, [rsi + rcx * 8]
            0x48, 0x01, 0xca, // 1012: add rdx, rcx
            0x48, 0xc1, 0xe2, 0x03, // 1015: shl rdx, 3
            0x48, 0x89, 0x14, 0xce, // 1019: mov [rsi + rcx * 8], rdx
            0x48, 0x01, 0xd0, // 101d: add rax, rdx
            0x80, 0xf9, 0x07, // 1020: cmp cl, 7
            0x0f, 0x92, 0xc3, // 1023: setb bl
            0x0f, 0xb6, 0xdb, // 1026: movzx ebx, bl
            0x01, 0xd8, // 1029: add eax, ebx
            0x50, // 102b: push rax
            0x5f, // 102c: pop rdi
            0x48, 0x6b, 0xff, 0x03, // 102d: imul rdi, rdi, 3
            0x48, 0xd3, 0xe7, // 1031: shl rdi, cl
            0xff, 0x06, // 1034: inc dword [rsi]
            0xe8, 0x05, 0x00, 0x00, 0x00, // 1036: call 1040
            0xff, 0xc9, // 103b: dec ecx
            0x75, 0xcf, // 103d: jnz 100e
            0xf4, // 103f: hlt
            0x49, 0x31, 0xf8, // 1040: xor r8, rdi
            0xc3); // 1043: ret

    /**
     * A vCPU in long mode that runs {@code code} at CODE to its HLT, each region compiled before
     * its first run (decoded) or all of it interpreted, {@code setUp} first (data, page tables,
     * the vCPU's own registers); its state materialized.
     */
    private static X86Vcpu runToHalt(TestGuest g, byte[] code, boolean decoded, java.util.function.Consumer<X86Vcpu> setUp) {
        X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, LongMode.CODE, 0, decoded);
        LongMode.enter(cpu, g);
        cpu.compileThreshold = 1; // compiled before the first run
        LongMode.code(g, LongMode.CODE, code);
        setUp.accept(cpu);
        Exit e = cpu.run();
        while (!(e instanceof Exit.Halt)) {
            e = cpu.run();
        }
        cpu.materialize();
        return cpu;
    }

    private static X86Vcpu run(TestGuest g, boolean decoded) {
        return runToHalt(g, LOOP, decoded, c -> {
            byte[] data = new byte[8 * 1001];
            for (int i = 0; i < data.length; i++) {
                data[i] = (byte) (i * 37 + 11);
            }
            g.memory.write(DATA, MemorySegment.ofArray(data));
        });
    }

    @Test
    void aLoopOfTheFormsNativeBlocksCoverLeavesWhatTheInterpreterLeaves() throws Exception {
        Assumptions.assumeTrue(NativeBlockCompiler.enabled, "native blocks are off (cloister.x86.native=false, or not x86-64 Linux)");
        long[] want;
        byte[] wantMemory = new byte[8 * 1001];
        try (TestGuest g = new TestGuest("native-interpreted", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = run(g, false);
            cpu.materialize();
            want = state(cpu);
            g.memory.read(DATA, MemorySegment.ofArray(wantMemory));
        }
        try (TestGuest g = new TestGuest("native", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = run(g, true);
            cpu.materialize();
            byte[] memory = new byte[wantMemory.length];
            g.memory.read(DATA, MemorySegment.ofArray(memory));
            assertArrayEquals(want, state(cpu), cpu.statistics());
            assertArrayEquals(wantMemory, memory);
            assertTrue(cpu.compiledRetired > 10_000, cpu.statistics());
            // Each round leaves three blocks (the loop's, the function's, the one after the call);
            // native blocks go from one to the next through the jump table, so the dispatcher runs
            // a block only when a chain's budget is spent or its entry is new: not three per round.
            assertTrue(cpu.blockRuns < 500, cpu.statistics());
            // The loop's head makes a native block (not a bytecode one in its place).
            Region loop = Region.decode(g.view.guestSegment(g.view.table().slotAt(0).id()), LongMode.CODE + 0x0e, true, BlockCompiler.MAX);
            assertNotNull(NativeBlockCompiler.compile(loop), "the loop's region compiles to a native block");
        }
    }

    private static long[] state(X86Vcpu cpu) {
        long[] s = new long[20];
        System.arraycopy(cpu.r, 0, s, 0, 16);
        s[16] = cpu.rflags;
        s[17] = cpu.rip;
        s[18] = cpu.instructions();
        return s;
    }

    /**
     * 1,000 rounds of unaligned loads and an unaligned read-modify-write inside one page: they hit
     * the fast tables (the page of the last byte is the tag of the first byte's slot), so the
     * blocks miss once for the page, not at every round. The same loop with one load crossing
     * into the next page (which takes the full path, a miss each round). Both leave what the
     * interpreter leaves.
     */
    @Test
    void unalignedAccessesInsideAPageHitTheFastTables() throws Exception {
        Assumptions.assumeTrue(NativeBlockCompiler.enabled, "native blocks are off (cloister.x86.native=false, or not x86-64 Linux)");
        long inPage = unalignedLoopMisses(0x7fd);
        assertTrue(inPage < 100, "the accesses inside the page miss once, not every round: " + inPage);
        long crossing = unalignedLoopMisses(0xffd);
        assertTrue(crossing >= 1_000, "the access across pages misses every round: " + crossing);
    }

    /** Runs the loop interpreted and native, checks that both leave the same, and returns the native run's misses. */
    private static long unalignedLoopMisses(int disp) throws Exception {
        byte[] loop = bytes(
                0xb9, 0xe8, 0x03, 0x00, 0x00, // 1000: mov ecx, 1000
                0x48, 0xc7, 0xc6, 0x00, 0x50, 0x00, 0x00, // 1005: mov rsi, 0x5000
                0x48, 0x8b, 0x56, 0x03, // 100c: mov rdx, [rsi + 3]
                0x01, 0x56, 0x13, // 1010: add [rsi + 0x13], edx
                0x48, 0x03, 0x96, disp & 0xff, disp >> 8, 0x00, 0x00, // 1013: add rdx, [rsi + disp]
                0x48, 0x89, 0x56, 0x25, // 101a: mov [rsi + 0x25], rdx
                0xff, 0xc9, // 101e: dec ecx
                0x75, 0xea, // 1020: jnz 100c
                0xf4); // 1022: hlt
        long[][] states = new long[2][];
        long[] data = new long[2];
        long misses = 0;
        for (int decoded = 0; decoded < 2; decoded++) {
            try (TestGuest g = new TestGuest("native-unaligned", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = runToHalt(g, loop, decoded == 1, c -> {
                    for (int i = 0; i < 0x2000; i += 8) {
                        LongMode.write(g, DATA + i, 0x0102030405060708L * (i + 1));
                    }
                });
                states[decoded] = state(cpu);
                data[decoded] = LongMode.read(g, DATA + 0x10) ^ LongMode.read(g, DATA + 0x20) * 31;
                misses = cpu.nativeMisses;
            }
        }
        assertArrayEquals(states[0], states[1]);
        assertEquals(data[0], data[1]);
        return misses;
    }

    /**
     * A CR3 write keeps the fast tables' entries of global pages as it keeps their TLB entries: a
     * loop that reads through a global mapping and writes CR3 misses once; through the same
     * mapping without G (the control) it misses at every round.
     */
    @Test
    void aCr3WriteKeepsTheFastEntriesOfGlobalPages() throws Exception {
        Assumptions.assumeTrue(NativeBlockCompiler.enabled, "native blocks are off (cloister.x86.native=false, or not x86-64 Linux)");
        assertTrue(cr3LoopMisses(true) <= 2);
        assertTrue(cr3LoopMisses(false) >= 90);
    }

    /** The native-block misses of 100 rounds of a load through linear 512 GiB (a 1 GiB page at physical 0, global or not) and a CR3 write. */
    private static long cr3LoopMisses(boolean global) throws Exception {
        long linear = 1L << 39;
        long pdpt = 0x14000;
        byte[] loop = new byte[] {0x48, (byte) 0xb8, 0, 0, 0, 0, 0, 0, 0, 0}; // 1000: mov rax, linear + DATA
        for (int i = 0; i < 8; i++) {
            loop[2 + i] = (byte) ((linear + DATA) >>> (8 * i));
        }
        loop = Code.join(loop, bytes(
                0x0f, 0x20, 0xde, // 100a: mov rsi, cr3
                0xb9, 0x64, 0x00, 0x00, 0x00, // 100d: mov ecx, 100
                0x48, 0x8b, 0x10, // 1012: mov rdx, [rax]
                0x0f, 0x22, 0xde, // 1015: mov cr3, rsi
                0xff, 0xc9, // 1018: dec ecx
                0x75, 0xf6, // 101a: jnz 1012
                0xf4)); // 101c: hlt
        try (TestGuest g = new TestGuest("native-global", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = runToHalt(g, loop, true, c -> {
                c.cr4 |= X86Vcpu.CR4_PGE;
                LongMode.write(g, LongMode.PML4 + 8, pdpt | 3);
                LongMode.write(g, pdpt, global ? 0x183 : 0x83); // present, writable, 1 GiB, global or not
                LongMode.write(g, DATA, 0x1234);
            });
            assertEquals(0x1234, cpu.r[X86Vcpu.RDX], cpu.statistics());
            return cpu.nativeMisses;
        }
    }

    /**
     * ROL and ROR by an immediate (1 and more, 4 and 8 bytes) in a native block: results, CF, and
     * OF past a count of 1 (undefined in x86, the engine's rule) as the interpreter leaves them,
     * with SETO/SETC after each and an ADD between that the rotates' kept flags come from.
     */
    @Test
    void rotatesByAnImmediateLeaveWhatTheInterpreterLeaves() throws Exception {
        Assumptions.assumeTrue(NativeBlockCompiler.enabled, "native blocks are off (cloister.x86.native=false, or not x86-64 Linux)");
        byte[] loop = bytes(
                0xb9, 0xc8, 0x00, 0x00, 0x00, // 1000: mov ecx, 200
                0x48, 0xb8, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, // 1005: mov rax, 0x0123456789abcdef
                0xba, 0x01, 0x00, 0x00, 0x80, // 100f: mov edx, 0x80000001
                0x31, 0xf6, // 1014: xor esi, esi
                0x48, 0xc1, 0xc0, 0x0d, // 1016: rol rax, 13
                0x0f, 0x90, 0xc3, // 101a: seto bl
                0x01, 0xde, // 101d: add esi, ebx
                0xc1, 0xca, 0x07, // 101f: ror edx, 7
                0x0f, 0x90, 0xc3, // 1022: seto bl
                0x01, 0xde, // 1025: add esi, ebx
                0x0f, 0x92, 0xc3, // 1027: setc bl
                0x01, 0xde, // 102a: add esi, ebx
                0xd1, 0xc2, // 102c: rol edx, 1
                0x0f, 0x90, 0xc3, // 102e: seto bl
                0x01, 0xde, // 1031: add esi, ebx
                0x48, 0xc1, 0xc8, 0x3e, // 1033: ror rax, 62
                0x0f, 0x90, 0xc3, // 1037: seto bl
                0x01, 0xde, // 103a: add esi, ebx
                0x48, 0x01, 0xc2, // 103c: add rdx, rax
                0xff, 0xc9, // 103f: dec ecx
                0x75, 0xd3, // 1041: jnz 1016
                0xf4); // 1043: hlt
        long[][] states = new long[2][];
        for (int decoded = 0; decoded < 2; decoded++) {
            try (TestGuest g = new TestGuest("native-rotate", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = runToHalt(g, loop, decoded == 1, c -> { });
                states[decoded] = state(cpu);
                if (decoded == 1) {
                    assertTrue(cpu.compiledRetired > 2_000, cpu.statistics());
                    Region body = Region.decode(g.view.guestSegment(g.view.table().slotAt(0).id()), LongMode.CODE + 0x16, true, BlockCompiler.MAX);
                    assertNotNull(NativeBlockCompiler.compile(body), "the rotates' region compiles to a native block");
                }
            }
        }
        assertArrayEquals(states[0], states[1]);
    }

    /** The MUL and DIV loops' start: ECX 100 rounds, RSI DATA, EBX 7, R9 0x1234567, and at 1018 (the loop) RAX from R9. */
    private static final byte[] ACCUMULATOR_SETUP = bytes(
            0xb9, 0x64, 0x00, 0x00, 0x00, // 1000: mov ecx, 100
            0x48, 0xc7, 0xc6, 0x00, 0x50, 0x00, 0x00, // 1005: mov rsi, 0x5000
            0xbb, 0x07, 0x00, 0x00, 0x00, // 100c: mov ebx, 7
            0x49, 0xc7, 0xc1, 0x67, 0x45, 0x23, 0x01, // 1011: mov r9, 0x1234567
            0x4c, 0x89, 0xc8); // 1018: mov rax, r9

    /**
     * DIV of memory (8 bytes) and of a register (4 bytes) in a native block, 100 rounds, the
     * flags of a CMP before it read after it (DIV keeps them, the engine's rule): what the
     * interpreter leaves. Then a divisor of 0 and a quotient too wide: #DE in both, raised where
     * the native block returns before the DIV.
     */
    @Test
    void divLeavesWhatTheInterpreterLeavesAndItsFaults() throws Exception {
        Assumptions.assumeTrue(NativeBlockCompiler.enabled, "native blocks are off (cloister.x86.native=false, or not x86-64 Linux)");
        byte[] loop = Code.join(ACCUMULATOR_SETUP, bytes(
                0x31, 0xd2, // 101b: xor edx, edx
                0x83, 0xf9, 0x32, // 101d: cmp ecx, 50
                0x48, 0xf7, 0x36, // 1020: div qword [rsi]
                0x41, 0x0f, 0x92, 0xc0, // 1023: setb r8b
                0x4d, 0x01, 0xc5, // 1027: add r13, r8
                0x49, 0x01, 0xc2, // 102a: add r10, rax
                0x49, 0x01, 0xd3, // 102d: add r11, rdx
                0x89, 0xc8, // 1030: mov eax, ecx
                0xba, 0x03, 0x00, 0x00, 0x00, // 1032: mov edx, 3
                0xf7, 0xf3, // 1037: div ebx
                0x49, 0x01, 0xc2, // 1039: add r10, rax
                0x49, 0x01, 0xd3, // 103c: add r11, rdx
                0xff, 0xc9, // 103f: dec ecx
                0x75, 0xd5, // 1041: jnz 1018
                0xf4)); // 1043: hlt
        assertArrayEquals(divRun(loop, 0x10003, false), divRun(loop, 0x10003, true));
        byte[] fault = bytes(
                0x48, 0xc7, 0xc6, 0x00, 0x50, 0x00, 0x00, // 1000: mov rsi, 0x5000
                0xb8, 0x05, 0x00, 0x00, 0x00, // 1007: mov eax, 5
                0x48, 0xf7, 0x36, // 100c: div qword [rsi]
                0xf4); // 100f: hlt
        long[] zero = divRun(fault, 0, true);
        assertArrayEquals(divRun(fault, 0, false), zero);
        assertEquals(LongMode.handler(X86Vcpu.VEC_DE) + 1, zero[17], "a divisor of 0: #DE");
        byte[] wide = Code.join(bytes(0xba, 0x05, 0x00, 0x00, 0x00), fault); // mov edx, 5 first: 5:5 / 3 does not fit
        long[] over = divRun(wide, 3, true);
        assertArrayEquals(divRun(wide, 3, false), over);
        assertEquals(LongMode.handler(X86Vcpu.VEC_DE) + 1, over[17], "a quotient too wide: #DE");
    }

    /**
     * MUL of memory (8 bytes) and of a register (4 bytes) in a native block, 100 rounds with
     * products whose high halves are 0 and not: the results, CF and OF as the interpreter leaves
     * them, and SF (undefined in x86) kept from the CMP before, as the engine keeps it.
     */
    @Test
    void mulLeavesWhatTheInterpreterLeaves() throws Exception {
        Assumptions.assumeTrue(NativeBlockCompiler.enabled, "native blocks are off (cloister.x86.native=false, or not x86-64 Linux)");
        byte[] loop = Code.join(ACCUMULATOR_SETUP, bytes(
                0x83, 0xf9, 0x32, // 101b: cmp ecx, 50
                0x48, 0xf7, 0x26, // 101e: mul qword [rsi]
                0x41, 0x0f, 0x98, 0xc0, // 1021: sets r8b
                0x41, 0x0f, 0x92, 0xc4, // 1025: setb r12b
                0x4d, 0x01, 0xc5, // 1029: add r13, r8
                0x4d, 0x01, 0xe5, // 102c: add r13, r12
                0x49, 0x01, 0xc2, // 102f: add r10, rax
                0x49, 0x01, 0xd3, // 1032: add r11, rdx
                0x4d, 0x01, 0xd1, // 1035: add r9, r10
                0x89, 0xc8, // 1038: mov eax, ecx
                0xf7, 0xe3, // 103a: mul ebx
                0x49, 0x01, 0xc2, // 103c: add r10, rax
                0x49, 0x01, 0xd3, // 103f: add r11, rdx
                0xff, 0xc9, // 1042: dec ecx
                0x75, 0xd2, // 1044: jnz 1018
                0xf4)); // 1046: hlt
        long[] got = divRun(loop, 3, true);
        assertArrayEquals(divRun(loop, 3, false), got);
        // SF is 1 in 49 rounds (ECX below 50); CF 1 in some rounds, not all (the products grow past 64 bits, then wrap)
        assertTrue(got[13] > 49 && got[13] < 149, "SF and CF counted over the rounds: " + got[13]);
    }

    /** The state after running {@code code} (compiled at once, or interpreted) with the qword at DATA set to {@code divisor}. */
    private static long[] divRun(byte[] code, long divisor, boolean decoded) throws Exception {
        try (TestGuest g = new TestGuest("native-div", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = runToHalt(g, code, decoded, c -> {
                LongMode.write(g, DATA, divisor);
            });
            if (decoded && code.length > 40) {
                assertTrue(cpu.compiledRetired > 1_000, cpu.statistics());
                Region body = Region.decode(g.view.guestSegment(g.view.table().slotAt(0).id()), LongMode.CODE + 0x18, true, BlockCompiler.MAX);
                assertNotNull(NativeBlockCompiler.compile(body), "the loop's region compiles to a native block");
            }
            return state(cpu);
        }
    }

    /**
     * A native block run from the dispatcher while the vCPU's flags are exact takes them in, so
     * that it chains on even when it writes none: 100 rounds of an LFENCE (which native blocks
     * leave to the dispatcher), a JMP to a block that only moves and CALLs a function that only
     * moves, and DEC and JNZ after the call. Each round dispatches the LFENCE and that block; the
     * function and the code after the call are reached by chains (without the flags taken in,
     * two dispatches more a round).
     */
    @Test
    void aRunWithoutFlagWritesChainsWhenTheFlagsWereExact() throws Exception {
        Assumptions.assumeTrue(NativeBlockCompiler.enabled, "native blocks are off (cloister.x86.native=false, or not x86-64 Linux)");
        byte[] loop = bytes(
                0xb9, 0x64, 0x00, 0x00, 0x00, // 1000: mov ecx, 100
                0x0f, 0xae, 0xe8, // 1005: lfence
                0xeb, 0x09, // 1008: jmp 1013
                0xff, 0xc9, // 100a: dec ecx
                0x75, 0xf7, // 100c: jnz 1005
                0xf4, // 100e: hlt
                0x90, 0x90, 0x90, 0x90, // 100f: nop (never run)
                0x48, 0x8d, 0x40, 0x01, // 1013: lea rax, [rax + 1]
                0xe8, 0x08, 0x00, 0x00, 0x00, // 1017: call 1024
                0xeb, 0xec, // 101c: jmp 100a
                0x90, 0x90, 0x90, 0x90, 0x90, 0x90, // 101e: nop (never run)
                0x48, 0x8d, 0x5b, 0x02, // 1024: lea rbx, [rbx + 2]
                0xc3); // 1028: ret
        long[][] states = new long[2][];
        long dispatches = 0;
        for (int decoded = 0; decoded < 2; decoded++) {
            try (TestGuest g = new TestGuest("native-flagless", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = runToHalt(g, loop, decoded == 1, c -> { });
                states[decoded] = state(cpu);
                dispatches = cpu.blockRuns + cpu.tracesRun;
            }
        }
        assertArrayEquals(states[0], states[1]);
        assertEquals(100, states[1][0]); // rax
        assertTrue(dispatches < 300, "two dispatches a round, not four: " + dispatches);
    }

    /**
     * A CR3 write empties the jump-table entries of code in pages not mapped global: linear 512
     * GiB maps (4 KiB, without G) a function returning 1 under the first PML4 and one returning 2
     * under a second. Two rounds of an indirect CALL there, a CR3 write to the second PML4 between
     * them: the second call runs the second function (a stale entry would chain into the first).
     * The same through a global mapping, remapped the same way, keeps its entry: the second call
     * then runs the first function still, as a processor's TLB keeps a global translation across
     * a CR3 write.
     */
    @Test
    void aCr3WriteDropsTheJumpsIntoCodeNotMappedGlobal() throws Exception {
        Assumptions.assumeTrue(NativeBlockCompiler.enabled, "native blocks are off (cloister.x86.native=false, or not x86-64 Linux)");
        assertEquals(1 + 2, windowCalls(false));
        assertEquals(1 + 1, windowCalls(true));
    }

    /** RBX after two calls to linear 512 GiB, first under the boot PML4, then under a second that maps it elsewhere. */
    private static long windowCalls(boolean global) throws Exception {
        long window = 1L << 39;
        long pml4b = 0x40000, pdptA = 0x14000, pdptB = 0x15000, pdA = 0x16000, pdB = 0x17000, ptA = 0x18000, ptB = 0x19000;
        byte[] loop = new byte[] {0x49, (byte) 0xb8, 0, 0, 0, 0, 0, 0, 0, 0}; // 1000: mov r8, window
        for (int i = 0; i < 8; i++) {
            loop[2 + i] = (byte) (window >>> (8 * i));
        }
        loop = Code.join(loop, bytes(
                0xbe, 0x00, 0x00, 0x04, 0x00, // 100a: mov esi, 0x40000 (the second PML4)
                0xb9, 0x02, 0x00, 0x00, 0x00, // 100f: mov ecx, 2
                0x41, 0xff, 0xd0, // 1014: call r8 (a chain: the flags are exact here, as DEC left them)
                0x01, 0xc3, // 1017: add ebx, eax
                0xff, 0xc9, // 1019: dec ecx
                0x74, 0x05, // 101b: jz 1022
                0x0f, 0x22, 0xde, // 101d: mov cr3, rsi
                0xeb, 0xf2, // 1020: jmp 1014
                0xf4)); // 1022: hlt
        try (TestGuest g = new TestGuest("native-window", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = runToHalt(g, loop, true, c -> {
                c.cr4 |= X86Vcpu.CR4_PGE;
                LongMode.write(g, LongMode.PDPT, 0x183); // the first GiB (code, stack) global: its fast entries outlive the CR3 write
                long leaf = global ? 0x103 : 0x3; // present, writable, global or not
                LongMode.write(g, LongMode.PML4 + 8, pdptA | 3);
                LongMode.write(g, pdptA, pdA | 3);
                LongMode.write(g, pdA, ptA | 3);
                LongMode.write(g, ptA, 0x30000 | leaf);
                LongMode.write(g, pml4b, LongMode.PDPT | 3);
                LongMode.write(g, pml4b + 8, pdptB | 3);
                LongMode.write(g, pdptB, pdB | 3);
                LongMode.write(g, pdB, ptB | 3);
                LongMode.write(g, ptB, 0x31000 | leaf);
                LongMode.code(g, 0x30000, bytes(0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3)); // mov eax, 1; ret
                LongMode.code(g, 0x31000, bytes(0xb8, 0x02, 0x00, 0x00, 0x00, 0xc3)); // mov eax, 2; ret
            });
            assertEquals(LongMode.CODE + 0x23, cpu.rip, cpu.statistics());
            return cpu.r[X86Vcpu.RBX];
        }
    }

    /**
     * A region whose first instruction native code takes is compiled after NATIVE_THRESHOLD runs,
     * one it does not after the compile threshold; a vCPU told to compile at once, or never (traces
     * only), is not overruled.
     */
    @Test
    void regionsNativeCodeStartsAreCompiledAtTheNativeThreshold() throws Exception {
        Assumptions.assumeTrue(NativeBlockCompiler.enabled, "native blocks are off (cloister.x86.native=false, or not x86-64 Linux)");
        Assumptions.assumeTrue(X86Engine.COMPILE_THRESHOLD > X86Engine.NATIVE_THRESHOLD, "thresholds set otherwise by properties");
        try (TestGuest g = new TestGuest("native-threshold", 1 << 20, PageState.SHARED)) {
            LongMode.code(g, LongMode.CODE, bytes(0x48, 0x8b, 0x16, 0x0f, 0xa2)); // mov rdx, [rsi]; cpuid
            MemorySegment ram = g.view.guestSegment(g.view.table().slotAt(0).id());
            Insn load = Insn.decode(ram, LongMode.CODE, true);
            Insn cpuid = Insn.decode(ram, LongMode.CODE + 3, true);
            X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, LongMode.CODE, 0, true);
            assertEquals(X86Engine.NATIVE_THRESHOLD, cpu.threshold(load));
            assertEquals(X86Engine.COMPILE_THRESHOLD, cpu.threshold(cpuid));
            cpu.compileThreshold = Integer.MAX_VALUE;
            assertEquals(Integer.MAX_VALUE, cpu.threshold(load));
            cpu.compileThreshold = 1;
            assertEquals(1, cpu.threshold(load));
        }
    }

    @Test
    void aRegionWhoseFirstFormIsNotCoveredMakesNoNativeBlock() throws Exception {
        try (TestGuest g = new TestGuest("native-none", 1 << 20, PageState.SHARED)) {
            LongMode.code(g, LongMode.CODE, bytes(0x0f, 0xa2, 0xf4)); // cpuid; hlt
            Region r = Region.decode(g.view.guestSegment(g.view.table().slotAt(0).id()), LongMode.CODE, true, BlockCompiler.MAX);
            assertEquals(null, r.insns().isEmpty() ? null : NativeBlockCompiler.compile(r));
        }
    }
}
