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

/** Compiled blocks keep the interpreter's semantics where a block is cut short. */
class CompiledBlockTest {
    private static X86Vcpu cpu(TestGuest g, byte[] code, boolean decodedCache) {
        g.memory.write(0x1000, MemorySegment.ofArray(code));
        X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0, decodedCache);
        cpu.compileThreshold = 1; // compile every block on first sight
        return cpu;
    }

    /**
     * A loop whose store rewrites the immediate of an instruction in its own block; it halts with
     * RDX = 1000 + 999 + ... + 2 = 500,499 (iteration i > 0 reads the count iteration i - 1 stored)
     * after 1 + 5 * 1000 + 1 instructions.
     */
    static final byte[] SELF_MODIFYING_LOOP = bytes(
            0xb9, 0xe8, 0x03, 0x00, 0x00, // 1000: mov ecx, 1000
            0xb8, 0x00, 0x00, 0x00, 0x00, // 1005: mov eax, imm32 (imm at 0x1006)
            0x01, 0xc2, // 100a: add edx, eax
            0x89, 0x0d, 0x06, 0x10, 0x00, 0x00, // 100c: mov [0x1006], ecx
            0x49, // 1012: dec ecx
            0x75, 0xf0, // 1013: jnz 1005
            0xf4); // 1015: hlt

    @Test
    void selfModifyingCodeIsSeenOnTheNextRun() throws Exception {
        byte[] code = SELF_MODIFYING_LOOP;
        for (boolean decoded : new boolean[] {false, true}) {
            try (TestGuest g = new TestGuest("smc", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = cpu(g, code, decoded);
                Exit e = cpu.run();
                assertTrue(e instanceof Exit.Halt, e.toString());
                // iteration i > 0 reads the count stored by iteration i - 1: 1000 + 999 + ... + 2
                assertEquals(500_499L, cpu.r[X86Vcpu.RDX], decoded ? "decoded and compiled" : "interpreted");
                assertEquals(1 + 5 * 1000 + 1, cpu.instructions());
            }
        }
    }

    /**
     * A loop patches the immediate of an instruction in the middle of the function it calls, in the
     * same page (as the kernel patches its text while running it): only the entries holding the
     * written bytes are dropped. The callee's NOP before the patched MOV keeps its entry, and its
     * trace must not run on into the MOV as it was decoded; the loop's own blocks stay compiled.
     * RDX = 1000 + 999 + ... + 1 after 2 + 8 * 1000 + 1 instructions, in every mode.
     */
    @Test
    void aWriteIntoOneInstructionDropsThatInstructionOnly() throws Exception {
        byte[] code = new byte[0x107];
        byte[] loop = bytes(
                0xbc, 0x00, 0x80, 0x00, 0x00, // 1000: mov esp, 0x8000
                0xb9, 0xe8, 0x03, 0x00, 0x00, // 1005: mov ecx, 1000
                0x89, 0x0d, 0x02, 0x11, 0x00, 0x00, // 100a: mov [0x1102], ecx (the callee's immediate)
                0xe8, 0xeb, 0x00, 0x00, 0x00, // 1010: call 1100
                0x01, 0xc2, // 1015: add edx, eax
                0x49, // 1017: dec ecx
                0x75, 0xf0, // 1018: jnz 100a
                0xf4); // 101a: hlt
        byte[] callee = bytes(
                0x90, // 1100: nop
                0xb8, 0x00, 0x00, 0x00, 0x00, // 1101: mov eax, imm32 (imm at 0x1102)
                0xc3); // 1106: ret
        System.arraycopy(loop, 0, code, 0, loop.length);
        System.arraycopy(callee, 0, code, 0x100, callee.length);
        for (int mode = 0; mode < 3; mode++) {
            try (TestGuest g = new TestGuest("patch", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = cpu(g, code, mode > 0);
                if (mode == 2) {
                    cpu.compileThreshold = Integer.MAX_VALUE; // traces only
                }
                Exit e = cpu.run();
                while (!(e instanceof Exit.Halt)) {
                    e = cpu.run();
                }
                String what = new String[] {"interpreted", "compiled", "traces"}[mode] + ": " + cpu.statistics();
                assertEquals(500_500L, cpu.r[X86Vcpu.RDX], what);
                assertEquals(2 + 8 * 1000 + 1, cpu.instructions(), what);
                if (mode == 1) {
                    // the callee's MOV block is compiled again after each patch; the loop's are not
                    assertTrue(cpu.blocksInstalled <= 1000 + 10, what);
                }
            }
        }
    }

    /** A call whose push lands in decoded code ends its block, and the guest goes on at the callee. */
    @Test
    void aCallThatWritesIntoCodeStillCalls() throws Exception {
        byte[] code = bytes(
                0xbc, 0x40, 0x10, 0x00, 0x00, // 1000: mov esp, 0x1040 (the stack is in the code's 64 bytes)
                0xe8, 0x06, 0x00, 0x00, 0x00, // 1005: call 1010
                0xb9, 0x01, 0x00, 0x00, 0x00, // 100a: mov ecx, 1
                0xf4, // 100f: hlt
                0xb8, 0x07, 0x00, 0x00, 0x00, // 1010: mov eax, 7
                0xc3); // 1015: ret
        long[][] seen = new long[2][];
        for (int mode = 0; mode < 2; mode++) {
            try (TestGuest g = new TestGuest("call", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = cpu(g, code, mode == 1);
                assertTrue(cpu.run() instanceof Exit.Halt);
                seen[mode] = new long[] {cpu.r[X86Vcpu.RAX], cpu.r[X86Vcpu.RCX], cpu.instructions()};
            }
        }
        assertEquals(7, seen[1][0], "the callee ran");
        assertEquals(java.util.Arrays.toString(seen[0]), java.util.Arrays.toString(seen[1]));
    }

    /**
     * On the decoded path alone, a store into the next instruction of its own trace stops the trace
     * after the store (each op runs the next itself, Ops.Op.done): the next instruction runs as
     * written, not as decoded.
     */
    @Test
    void aTraceStopsAfterAWriteIntoItsOwnNextInstruction() throws Exception {
        byte[] code = bytes(
                0xc7, 0x05, 0x0b, 0x10, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, // 1000: mov dword [0x100b], 5
                0xb8, 0x01, 0x00, 0x00, 0x00, // 100a: mov eax, 1 (its immediate at 0x100b)
                0xf4); // 100f: hlt
        try (TestGuest g = new TestGuest("trace-smc", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = cpu(g, code, true);
            cpu.compileThreshold = Integer.MAX_VALUE; // traces only
            Exit e = cpu.run();
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(5, cpu.r[X86Vcpu.RAX], "the rewritten immediate");
            assertEquals(3, cpu.instructions());
            assertTrue(cpu.tracesRun >= 2, cpu.statistics());
        }
    }

    /** Code changed by a device (DMA, outside the vCPU) runs as changed from the next run on. */
    @Test
    void codeWrittenByDmaIsSeen() throws Exception {
        byte[] code = bytes(
                0xb8, 0x01, 0x00, 0x00, 0x00, // 1000: mov eax, 1 (the device rewrites the 1)
                0xe6, 0xf0, // 1005: out 0xf0, al
                0xeb, 0xf7); // 1007: jmp 1000
        try (TestGuest g = new TestGuest("dma", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = cpu(g, code, true);
            for (int i = 0; i < 300; i++) { // hot enough to be decoded and compiled
                assertEquals(new Exit.Io(0xf0, 1, true, 1), cpu.run());
            }
            g.memory.write(0x1001, MemorySegment.ofArray(bytes(0x2a))); // as DmaView.write does
            cpu.memoryWritten(0x1001, 1);
            assertEquals(new Exit.Io(0xf0, 1, true, 42), cpu.run(), "the next run decodes the new bytes");
        }
    }

    /**
     * A loop calls code at linear 4 GiB through a 4 KiB page; halfway it maps that page to other
     * code and flushes it with INVLPG. The dispatch after the call finds its entry through the
     * successor link the earlier iterations made (DecodedPath.dispatch): the flush must retire the
     * link, or the old code would go on running. EBX = 50 * 1 + 50 * 2.
     */
    @Test
    void aSuccessorLinkFollowsARemappedPage() throws Exception {
        byte[] code = bytes(
                0xb9, 0x64, 0x00, 0x00, 0x00, // 1000: mov ecx, 100
                0x31, 0xdb, // 1005: xor ebx, ebx
                0x48, 0xbe, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // 1007: mov rsi, 0x100000000
                0xff, 0xd6, // 1011: call rsi
                0x01, 0xc3, // 1013: add ebx, eax
                0x83, 0xf9, 0x33, // 1015: cmp ecx, 51
                0x75, 0x0f, // 1018: jne 1029
                0x48, 0xc7, 0x04, 0x25, 0x00, 0x50, 0x01, 0x00, 0x03, 0x10, 0x03, 0x00, // 101a: mov qword [0x15000], 0x31003
                0x0f, 0x01, 0x3e, // 1026: invlpg [rsi]
                0xff, 0xc9, // 1029: dec ecx
                0x75, 0xe4, // 102b: jnz 1011
                0xf4); // 102d: hlt
        for (int threshold : new int[] {1, 7, Integer.MAX_VALUE}) {
            try (TestGuest g = new TestGuest("remap", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = cpu(g, code, true);
                cpu.compileThreshold = threshold;
                LongMode.enter(cpu, g);
                LongMode.write(g, LongMode.PDPT + 8 * 4, 0x14003); // 4 GiB: a page directory
                LongMode.write(g, 0x14000, 0x15003); // and a page table
                LongMode.write(g, 0x15000, 0x30003); // whose first page is 0x30000
                LongMode.code(g, 0x30000, bytes(0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3)); // mov eax, 1; ret
                LongMode.code(g, 0x31000, bytes(0xb8, 0x02, 0x00, 0x00, 0x00, 0xc3)); // mov eax, 2; ret
                Exit e = cpu.run();
                assertTrue(e instanceof Exit.Halt, e.toString());
                assertEquals(0x102eL, cpu.rip, "threshold " + threshold);
                assertEquals(150, cpu.r[X86Vcpu.RBX], "threshold " + threshold + ": " + cpu.statistics());
            }
        }
    }

    /**
     * 64-bit PUSH and POP in a block (inline through the fast tables): a POP from a page that is
     * not present faults with RSP as it was, as the interpreter leaves it. The stack's top page at
     * linear 4 GiB is present, the page above it is not; the #PF frame shows the POP's rip and RSP.
     */
    @Test
    void aPopThatFaultsLeavesRspAsItWas() throws Exception {
        byte[] code = bytes(
                0x48, 0xbc, 0xf8, 0x0f, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // 1000: mov rsp, 0x100000ff8
                0xb8, 0x09, 0x00, 0x00, 0x00, // 100a: mov eax, 9
                0x50, // 100f: push rax
                0x5b, // 1010: pop rbx
                0x59, // 1011: pop rcx (the last quadword of the present page)
                0x5a, // 1012: pop rdx: #PF
                0xf4); // 1013: hlt
        String[] outcome = new String[2];
        for (int mode = 0; mode < 2; mode++) {
            try (TestGuest g = new TestGuest("pop", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = cpu(g, code, mode == 1);
                LongMode.enter(cpu, g);
                LongMode.write(g, LongMode.PDPT + 8 * 4, 0x14003); // 4 GiB: a page directory
                LongMode.write(g, 0x14000, 0x15003); // and a page table
                LongMode.write(g, 0x15000, 0x30003); // whose first page is 0x30000; the second is not present
                Exit e = cpu.run();
                assertTrue(e instanceof Exit.Halt, e.toString());
                long frame = 0x30000 + (cpu.r[X86Vcpu.RSP] - 0x100000000L); // error code, rip, cs, rflags, rsp, ss
                byte[] f = new byte[48];
                g.memory.read(frame, MemorySegment.ofArray(f));
                java.nio.LongBuffer q = java.nio.ByteBuffer.wrap(f).order(java.nio.ByteOrder.LITTLE_ENDIAN).asLongBuffer();
                assertEquals(0x1012, q.get(1), "the faulting POP's rip");
                assertEquals(0x100001000L, q.get(4), "RSP as before the POP");
                outcome[mode] = "rip=" + Long.toHexString(cpu.rip) + " rsp=" + Long.toHexString(cpu.r[X86Vcpu.RSP]) + " rbx="
                        + cpu.r[X86Vcpu.RBX] + " rcx=" + cpu.r[X86Vcpu.RCX] + " retired=" + cpu.instructions();
            }
        }
        assertEquals(outcome[0], outcome[1]);
    }

    /** An MMIO read in the middle of a block exits there; earlier instructions stay done. */
    @Test
    void anExitInsideABlockResumesAtThatInstruction() throws Exception {
        byte[] code = bytes(
                0xb8, 0x05, 0x00, 0x00, 0x00, // 1000: mov eax, 5
                0x8b, 0x1d, 0x00, 0x00, 0xd0, 0xfe, // 1005: mov ebx, [0xfed00000]
                0x01, 0xd8, // 100b: add eax, ebx
                0x89, 0x05, 0x00, 0x00, 0xd0, 0xfe, // 100d: mov [0xfed00000], eax
                0xb9, 0x07, 0x00, 0x00, 0x00, // 1013: mov ecx, 7
                0xf4); // 1018: hlt
        try (TestGuest g = new TestGuest("mmio", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = cpu(g, code, true);
            Exit e = cpu.run();
            assertEquals(new Exit.Mmio(0xfed00000L, 4, false, 0), e);
            assertEquals(5, cpu.r[X86Vcpu.RAX]);
            assertEquals(0x1005, cpu.rip);
            assertEquals(1, cpu.instructions());
            cpu.complete(37);
            e = cpu.run();
            assertEquals(new Exit.Mmio(0xfed00000L, 4, true, 42), e, "the write exits after its instruction");
            assertEquals(0, cpu.r[X86Vcpu.RCX], "nothing after the MMIO write ran yet");
            assertEquals(4, cpu.instructions());
            e = cpu.run();
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(7, cpu.r[X86Vcpu.RCX]);
        }
    }
}
