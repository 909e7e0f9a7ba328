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

    private static X86Vcpu run(TestGuest g, boolean decoded) {
        X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, LongMode.CODE, 0, decoded);
        LongMode.enter(cpu, g);
        cpu.compileThreshold = 1; // compiled before the first run
        LongMode.code(g, LongMode.CODE, LOOP);
        byte[] data = new byte[8 * 1001];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 37 + 11);
        }
        g.memory.write(DATA, MemorySegment.ofArray(data));
        Exit e = cpu.run();
        while (!(e instanceof Exit.Halt)) {
            e = cpu.run();
        }
        return cpu;
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

    @Test
    void aRegionWhoseFirstFormIsNotCoveredMakesNoNativeBlock() throws Exception {
        try (TestGuest g = new TestGuest("native-none", 1 << 20, PageState.SHARED)) {
            LongMode.code(g, LongMode.CODE, bytes(0x0f, 0xa2, 0xf4)); // cpuid; hlt
            Region r = Region.decode(g.view.guestSegment(g.view.table().slotAt(0).id()), LongMode.CODE, true, BlockCompiler.MAX);
            assertEquals(null, r.insns().isEmpty() ? null : NativeBlockCompiler.compile(r));
        }
    }
}
