package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.cpu.InstructionClock;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * A compiled block is a region of its page (Region.decode): it goes on through a JMP and
 * both ways of a conditional branch to instructions after its first, with gaps between them. The
 * guest must not be able to tell: each program here ends as the interpreter alone ends it, with
 * the same count, registers and flags.
 */
class CompiledRegionTest {
    /** A loop whose body is an if/else: the then-arm JMPs over the else-arm. eax: 500 x 7 + 500 x 1. */
    private static final byte[] IF_ELSE = bytes(
            0xb9, 0xe8, 0x03, 0x00, 0x00, // 1000: mov ecx, 1000
            0x31, 0xc0, // 1005: xor eax, eax
            0xf6, 0xc1, 0x01, // 1007: test cl, 1
            0x74, 0x05, // 100a: jz 1011
            0x83, 0xc0, 0x07, // 100c: add eax, 7
            0xeb, 0x03, // 100f: jmp 1014
            0x83, 0xc0, 0x01, // 1011: add eax, 1
            0xff, 0xc9, // 1014: dec ecx
            0x75, 0xef, // 1016: jnz 1007
            0xf4); // 1018: hlt

    /**
     * A function whose RET is followed by the target of its own branch: the RET must return, not run
     * on into the instruction after it. eax gets 5 only in the call with ecx = 2.
     */
    private static final byte[] RETURN_BEFORE_A_TARGET = padded(0x20, bytes(
            0xb9, 0x03, 0x00, 0x00, 0x00, // 1000: mov ecx, 3
            0x31, 0xc0, // 1005: xor eax, eax
            0xe8, 0x14, 0x00, 0x00, 0x00, // 1007: call 1020
            0xff, 0xc9, // 100c: dec ecx
            0x75, 0xf7, // 100e: jnz 1007
            0xf4), // 1010: hlt
            bytes(
            0x83, 0xf9, 0x02, // 1020: cmp ecx, 2
            0x74, 0x01, // 1023: jz 1026
            0xc3, // 1025: ret
            0x83, 0xc0, 0x05, // 1026: add eax, 5
            0xc3)); // 1029: ret

    /**
     * A loop of 54 instructions, more than a block's MAX (48), whose exit is a JZ before the JMP
     * back, as busybox's sha256 round: the region from the loop's head takes the instructions
     * straight on to that JMP too (Region.CLOSE), so the loop runs inside one block. eax: 50 x 100.
     */
    private static final byte[] LOOP_LONGER_THAN_A_BLOCK = longLoop();

    private static byte[] longLoop() {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        b.writeBytes(bytes(0xb9, 0x64, 0x00, 0x00, 0x00, 0x31, 0xc0)); // 1000: mov ecx, 100; 1005: xor eax, eax
        for (int i = 0; i < 50; i++) {
            b.writeBytes(bytes(0x83, 0xc0, 0x01)); // 1007 + 3i: add eax, 1
        }
        b.writeBytes(bytes(0xff, 0xc9, 0x74, 0x05, 0xe9, 0x61, 0xff, 0xff, 0xff, 0xf4)); // 109d: dec ecx; jz 10a6; jmp 1007; 10a6: hlt
        return b.toByteArray();
    }

    /** #DE in the piece of a region after a JMP over bytes that are not its code. */
    private static final byte[] FAULT_AFTER_A_JUMP = bytes(
            0xb9, 0x00, 0x00, 0x00, 0x00, // 1000: mov ecx, 0
            0xb8, 0x64, 0x00, 0x00, 0x00, // 1005: mov eax, 100
            0xeb, 0x04, // 100a: jmp 1010
            0xf4, 0xf4, 0xf4, 0xf4, // 100c: not reached
            0xff, 0xc0, // 1010: inc eax
            0x31, 0xd2, // 1012: xor edx, edx
            0xf7, 0xf1, // 1014: div ecx
            0xf4); // 1016: hlt

    /**
     * A loop that patches the immediate of an ADD placed after a JMP of the same region: the first
     * round adds 1, the later ones 5 (eax 1 + 5 + 5).
     */
    private static final byte[] PATCH_AFTER_A_JUMP = bytes(
            0xb9, 0x03, 0x00, 0x00, 0x00, // 1000: mov ecx, 3
            0x31, 0xc0, // 1005: xor eax, eax
            0xeb, 0x02, // 1007: jmp 100b
            0xf4, 0xf4, // 1009: not reached
            0x83, 0xc0, 0x01, // 100b: add eax, 1 (its immediate at 100d)
            0xc6, 0x04, 0x25, 0x0d, 0x10, 0x00, 0x00, 0x05, // 100e: mov byte [0x100d], 5
            0xff, 0xc9, // 1016: dec ecx
            0x75, 0xed, // 1018: jnz 1007
            0xf4); // 101a: hlt

    @Test
    void anIfElseLoopRunsInsideOneBlock() throws Exception {
        X86Vcpu cpu = asTheInterpreter(IF_ELSE);
        assertEquals(4000, cpu.r[X86Vcpu.RAX]);
        assertTrue(cpu.loopsRun >= 990 && cpu.blockRuns < 20, "the JMP over the else-arm stays inside the block: " + cpu.statistics());
    }

    @Test
    void aLoopJustLongerThanABlockRunsInsideOne() throws Exception {
        X86Vcpu cpu = asTheInterpreter(LOOP_LONGER_THAN_A_BLOCK);
        assertEquals(5000, cpu.r[X86Vcpu.RAX]);
        assertTrue(cpu.loopsRun >= 90 && cpu.blockRuns < 20, "the JMP back closes the loop inside the block: " + cpu.statistics());
    }

    /**
     * The same program's first block, from 1000, holds the loop too, though its head (1007) is not
     * the block's first instruction (a function's prologue, then its loop): the whole run is that
     * one block (with only loops back to the first closed it is three).
     */
    @Test
    void aLoopAfterTheFirstInstructionIsClosedToo() throws Exception {
        X86Vcpu cpu = asTheInterpreter(LOOP_LONGER_THAN_A_BLOCK);
        assertEquals(1, cpu.blockRuns, cpu.statistics());
    }

    @Test
    void aReturnFollowedByABranchTargetReturns() throws Exception {
        X86Vcpu cpu = asTheInterpreter(RETURN_BEFORE_A_TARGET);
        assertEquals(5, cpu.r[X86Vcpu.RAX]);
    }

    @Test
    void aFaultAfterAJumpLeavesWhatTheInterpreterLeaves() throws Exception {
        X86Vcpu cpu = asTheInterpreter(FAULT_AFTER_A_JUMP);
        assertEquals(0x1014, cpu.rip, "at the DIV: " + cpu.statistics());
        assertEquals(5, cpu.instructions(), cpu.statistics());
    }

    @Test
    void aWriteIntoCodeAfterAJumpIsSeen() throws Exception {
        X86Vcpu cpu = asTheInterpreter(PATCH_AFTER_A_JUMP);
        assertEquals(11, cpu.r[X86Vcpu.RAX]);
    }

    private static byte[] padded(int at, byte[] head, byte[] tail) {
        byte[] code = new byte[at + tail.length];
        java.util.Arrays.fill(code, (byte) 0xf4); // hlt: a wrong turn stops there
        System.arraycopy(head, 0, code, 0, head.length);
        System.arraycopy(tail, 0, code, at, tail.length);
        return code;
    }

    /** More instructions than any program here runs. */
    private static final long LIMIT = 1_000_000;

    /** Runs the code with the interpreter alone, then with every block compiled before its first run; compares their ends. */
    private static X86Vcpu asTheInterpreter(byte[] code) throws Exception {
        String[] outcome = new String[2];
        X86Vcpu compiled = null;
        for (int mode = 0; mode < 2; mode++) {
            try (TestGuest g = new TestGuest("region", 1 << 20, PageState.SHARED)) {
                g.memory.write(0x1000, MemorySegment.ofArray(code));
                X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0, mode == 1);
                cpu.compileThreshold = 1; // compiled before the first run
                cpu.r[X86Vcpu.RSP] = 0x8000;
                cpu.icount = new InstructionClock() { // a wrong turn may loop for ever: stop it
                    @Override
                    public long nextDeadline() {
                        return LIMIT;
                    }

                    @Override
                    public boolean reached(long retired, boolean idle) {
                        cpu.requestExit();
                        return true;
                    }
                };
                Exit e = cpu.run();
                cpu.materialize();
                outcome[mode] = e + " retired=" + cpu.instructions() + " rip=" + Long.toHexString(cpu.rip) + " rcx=" + cpu.r[X86Vcpu.RCX]
                        + " rax=" + cpu.r[X86Vcpu.RAX] + " rsp=" + Long.toHexString(cpu.r[X86Vcpu.RSP]) + " rflags="
                        + Long.toHexString(cpu.rflags);
                if (mode == 1) {
                    assertTrue(cpu.compiledRetired > 0, "blocks ran: " + cpu.statistics());
                    compiled = cpu;
                }
            }
        }
        assertEquals(outcome[0], outcome[1]);
        assertTrue(compiled.instructions() < LIMIT, outcome[1]);
        return compiled;
    }
}
