package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * What the one {@link Decoder} decides about an instruction's shape, as hardware does, on every
 * path: the whole instruction is fetched before any of it runs, 15 bytes at most, a REX counts
 * only right before the opcode, MOV CR ignores ModRM.mod, and POP r/m has only /0.
 */
class InstructionShapeTest {
    private static final long PD = 0x40000;
    private static final long PT = 0x41000;

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void theFetchFaultsBeforeTheOperandIsRead(String mode) {
        try (DeviceAccessTest.Machine m = PageFaultCodesAndSegmentLoadsTest.machine(mode)) {
            // 4 GiB + 1 GiB - 4 KiB maps physical 0x50000; the page after it (5 GiB) and 6 GiB are not present.
            LongMode.write(m.g, LongMode.PDPT + 8 * 4, PD | 3);
            LongMode.write(m.g, PD + 8 * 511, PT | 3);
            LongMode.write(m.g, PT + 8 * 511, 0x50000 | 3);
            LongMode.write(m.g, LongMode.PDPT + 8 * 5, 0);
            m.cpu.flushTlb();
            LongMode.code(m.g, 0x50ffc, bytes(0x48, 0x69, 0x03, 0x10)); // imul $..., (%rbx), %rax: the immediate crosses the page
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0x48, 0xbb, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, // movabs $0x180000000, %rbx (not present)
                    0x48, 0xb8, 0xfc, 0xff, 0xff, 0x3f, 0x01, 0x00, 0x00, 0x00, 0xff, 0xe0)); // jmp 0x13ffffffc
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(PageFaultCodesAndSegmentLoadsTest.PF + 10, m.cpu.rip, "the #PF handler ran");
            assertEquals(0x140000000L, m.cpu.r[9], "CR2: the fetch of the immediate, not the read of (%rbx)");
            assertEquals(0, m.cpu.r[8], "not present, read, supervisor");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void moreThanFifteenBytesIsGp(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            byte[] code = new byte[32];
            java.util.Arrays.fill(code, (byte) 0x66);
            code[14] = (byte) 0x90; // 14 prefixes and NOP: 15 bytes, runs
            code[30] = (byte) 0x90; // 15 prefixes and NOP: 16 bytes
            LongMode.code(m.g, LongMode.CODE, code);
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(LongMode.handler(13) + 1, m.cpu.rip, "#GP");
            long sp = m.cpu.r[X86Vcpu.RSP];
            assertEquals(0, LongMode.read(m.g, sp), "error code 0");
            assertEquals(LongMode.CODE + 15, LongMode.read(m.g, sp + 8), "raised at the long instruction");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void rexCountsOnlyRightBeforeTheOpcode(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0x48, 0x66, 0x89, 0xc8, // REX.W, then 66: the REX is ignored, mov %cx, %ax
                    0x48, 0x41, 0x89, 0xca, // two REX: the last counts, mov %ecx, %r10d
                    0xf4));
            m.cpu.r[X86Vcpu.RAX] = 0x1111111111111111L;
            m.cpu.r[X86Vcpu.RCX] = 0x2222222222222222L;
            m.cpu.r[10] = -1;
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(LongMode.CODE + 9, m.cpu.rip);
            assertEquals(0x1111111111112222L, m.cpu.r[X86Vcpu.RAX]);
            assertEquals(0x22222222L, m.cpu.r[10]);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void movCrTakesARegisterWhateverTheMod(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(0x0f, 0x20, 0x05, 0xf4)); // mov %cr0, %rbp (mod 00, no displacement)
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(LongMode.CODE + 4, m.cpu.rip);
            assertEquals(m.cpu.cr0, m.cpu.r[X86Vcpu.RBP]);
        }
    }

    /** The decoded path keeps a generic instruction's decoded shape: a write to its bytes must drop it. */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void aGenericInstructionRewrittenRunsItsNewBytes(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0x0f, 0x20, 0xc3, // L: mov %cr0, %rbx (the interpreter's form)
                    0xc6, 0x05, 0xf8, 0xff, 0xff, 0xff, 0xe1, // movb $0xe1, L+2(%rip): now mov %cr4, %rcx
                    0xff, 0xc6, 0x83, 0xfe, 0x02, 0x75, 0xef, // inc %esi; cmp $2, %esi; jne L
                    0xf4));
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(LongMode.CODE + 18, m.cpu.rip);
            assertEquals(m.cpu.cr0, m.cpu.r[X86Vcpu.RBX]);
            assertEquals(m.cpu.cr4, m.cpu.r[X86Vcpu.RCX], "the second pass ran the rewritten instruction");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void popRmHasOnlySlashZero(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(0x8f, 0xc8, 0xf4)); // 8F /1: #UD (XOP on AMD, not offered)
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(LongMode.handler(6) + 1, m.cpu.rip, "#UD");
        }
    }
}
