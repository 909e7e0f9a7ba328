package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * 0x66 on near branches. In 32-bit code it selects a 16-bit operand size (SDM vol. 2, JMP, Jcc,
 * CALL, RET): a rel16 displacement, a 2-byte return address, and EIP truncated to 16 bits, so a
 * branch above 64 KiB lands in the first 64 KiB. In 64-bit mode the operand size of near branches
 * is f64 (appendix A.2.5) on Intel, the vendor CPUID names: 0x66 is ignored (rel32, 8-byte return
 * addresses, a 64-bit target). The host (when it is AMD) reads the 64-bit forms otherwise, so
 * these are checked against the SDM, on all three paths; DecoderFuzzTest checks the lengths
 * against objdump's (-M intel64 in 64-bit mode).
 */
class NearBranchOperandSizeTest {
    /** The 16-bit displacement from {@code end} (the next instruction) that lands at {@code target} modulo 64 KiB. */
    private static int[] rel16(long end, long target) {
        long d = (target - end) & 0xffff;
        return new int[] {(int) d & 0xff, (int) (d >>> 8)};
    }

    private static int[] rel32(long end, long target) {
        long d = target - end;
        return new int[] {(int) d & 0xff, (int) (d >>> 8) & 0xff, (int) (d >>> 16) & 0xff, (int) (d >>> 24) & 0xff};
    }

    private static int[] cat(int[]... parts) {
        return java.util.Arrays.stream(parts).flatMapToInt(java.util.Arrays::stream).toArray();
    }

    private static void put(TestGuest g, long gpa, int[] code) {
        g.memory.write(gpa, MemorySegment.ofArray(bytes(code)));
    }

    /**
     * 32-bit code above 64 KiB: CALL rel16 (pushes IP), RET with 0x66 (pops IP), Jcc rel16, Jcc
     * rel8, JMP rel8, JMP rel16, CALL r/m16; each target is the 16-bit truncation of EIP + rel.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void sixteenBitNearBranchesIn32BitCodeTruncateEip(String mode) throws Exception {
        try (TestGuest g = new TestGuest("near16", 1 << 20, PageState.SHARED)) {
            put(g, 0x11000, cat(new int[] {0x66, 0xe8}, rel16(0x11004, 0x2000))); // call rel16 -> 0x2000, pushes 0x1004
            put(g, 0x2000, new int[] {
                0x0f, 0xb7, 0x1c, 0x24, // movzx ebx, word [esp]: the pushed IP
                0x66, 0xc3}); // ret (16-bit): EIP = 0x1004
            put(g, 0x1004, cat(new int[] {0x31, 0xc0, 0xe9}, rel32(0x100b, 0x13000))); // xor eax, eax (ZF); jmp 0x13000
            put(g, 0x13000, cat(new int[] {0x66, 0x0f, 0x84}, rel16(0x13005, 0x3000))); // je rel16 -> 0x3000
            put(g, 0x3000, cat(new int[] {0xe9}, rel32(0x3005, 0x14000)));
            put(g, 0x14000, new int[] {0x66, 0x74, 0x7d}); // je rel8: 0x14080 -> 0x4080
            put(g, 0x4080, cat(new int[] {0xe9}, rel32(0x4085, 0x15000)));
            put(g, 0x15000, new int[] {0x66, 0xeb, 0x10}); // jmp rel8: 0x15013 -> 0x5013
            put(g, 0x5013, cat(new int[] {0xe9}, rel32(0x5018, 0x16000)));
            put(g, 0x16000, cat(new int[] {0x66, 0xe9}, rel16(0x16004, 0x6000))); // jmp rel16 -> 0x6000
            put(g, 0x6000, new int[] {
                0xb9, 0x00, 0x70, 0x01, 0x00, // mov ecx, 0x17000
                0x66, 0xff, 0xd1, // call cx: 0x7000, pushes 0x6008
                0xbf, 0x01, 0x00, 0x00, 0x00, // 6008: mov edi, 1
                0xf4}); // hlt
            put(g, 0x7000, new int[] {
                0x0f, 0xb7, 0x34, 0x24, // movzx esi, word [esp]
                0x66, 0xc3}); // ret (16-bit)
            X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x11000, 0, !mode.equals("interpreted"));
            cpu.compileThreshold = mode.equals("compiled") ? 1 : Integer.MAX_VALUE;
            cpu.r[X86Vcpu.RSP] = 0x8000;
            Exit e = cpu.run();
            assertTrue(e instanceof Exit.Halt, mode + ": " + e + " at rip 0x" + Long.toHexString(cpu.rip));
            assertEquals(0x600e, cpu.rip, mode);
            assertEquals(0x1004, cpu.r[X86Vcpu.RBX], mode + ": CALL rel16 pushed the 16-bit IP");
            assertEquals(0x6008, cpu.r[X86Vcpu.RSI], mode + ": CALL r/m16 pushed the 16-bit IP");
            assertEquals(1, cpu.r[X86Vcpu.RDI], mode);
            assertEquals(0x8000, cpu.r[X86Vcpu.RSP], mode + ": two-byte pushes and pops");
            assertEquals(18, cpu.instructions(), mode);
        }
    }

    /** 64-bit code: 0x66 on CALL, RET, JMP, Jcc (rel32 and rel8) and JMP r/m is ignored, as Intel does. */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void nearBranchesIn64BitModeIgnore66AsIntelDoes(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            TestGuest g = m.g;
            put(g, 0x1000, cat(new int[] {0x66, 0xe8}, rel32(0x1006, 0x2000))); // call rel32, pushes 8 bytes
            put(g, 0x2000, new int[] {
                0x48, 0x8b, 0x1c, 0x24, // mov rbx, [rsp]
                0x48, 0x89, 0xe5, // mov rbp, rsp
                0x66, 0xc3}); // ret: pops 8 bytes
            put(g, 0x1006, cat(new int[] {0x66, 0xe9}, rel32(0x100c, 0x3000))); // jmp rel32
            put(g, 0x3000, cat(new int[] {0x31, 0xc0, 0x66, 0x0f, 0x84}, rel32(0x3009, 0x4000))); // xor eax, eax; je rel32
            put(g, 0x4000, new int[] {
                0x66, 0x74, 0x0d, // je rel8 -> 0x4010
            });
            put(g, 0x4010, new int[] {
                0xb9, 0x00, 0x50, 0x01, 0x00, // mov ecx, 0x15000
                0x66, 0xff, 0xe1}); // jmp rcx (AMD would take CX: 0x5000)
            put(g, 0x15000, new int[] {0xbf, 0x01, 0x00, 0x00, 0x00, 0xf4}); // mov edi, 1; hlt
            put(g, 0x5000, new int[] {0xbf, 0x02, 0x00, 0x00, 0x00, 0xf4}); // mov edi, 2; hlt
            Exit e = m.run(a -> -1);
            assertTrue(e instanceof Exit.Halt, mode + ": " + e);
            X86Vcpu c = m.cpu;
            assertEquals(0x15006, c.rip, mode);
            assertEquals(1, c.r[X86Vcpu.RDI], mode);
            assertEquals(0x1006, c.r[X86Vcpu.RBX], mode + ": CALL pushed the 8-byte RIP");
            assertEquals(LongMode.STACK - 8, c.r[X86Vcpu.RBP], mode);
            assertEquals(LongMode.STACK, c.r[X86Vcpu.RSP], mode + ": RET popped 8 bytes");
        }
    }
}
