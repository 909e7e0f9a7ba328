package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * 16-bit code in long mode's compatibility mode (CS.L = 0, CS.D = 0): 16-bit operands and
 * addresses by default, 0x66 and 0x67 select 32 bits (SDM vol. 1, 3.6.1). The decoded path's
 * entries and compiled blocks are decoded for 32- or 64-bit code only, so such code must reach the
 * interpreter in every mode, and every way into and out of it (far return, interrupt delivery)
 * must set the code size the new CS selects. Each case runs interpreted, decoded and compiled and
 * is checked against the values the SDM gives.
 */
class CompatibilityModeTest {
    /** A 16-bit code segment (limit 64 KiB, D = 0, L = 0), after LongMode's descriptors. */
    static final int CODE16 = 0x28;
    static final long CODE16_DESCRIPTOR = 0x00009a000000ffffL;
    static final long SIXTEEN = 0x5000;
    static final long BACK = 0x1100;
    static final long FRAME = 0x1f000;
    static final long DATA = 0x6000;

    /**
     * At {@link #SIXTEEN}: a loop of 16-bit adds, a store through [BX], 32-bit forms by 0x66, then a
     * 16-bit RETF to the 64-bit CS:IP at {@link #FRAME}. Read as 32-bit code the first MOV would
     * take five bytes and everything after it would differ.
     */
    static final byte[] CODE = bytes(
            0xb8, 0xff, 0xff, // mov ax, 0xffff
            0xb9, 0x64, 0x00, // mov cx, 100
            0x01, 0xc8, // add ax, cx
            0x49, // dec cx
            0x75, 0xfb, // jnz add
            0xbb, 0x00, 0x60, // mov bx, 0x6000
            0x89, 0x07, // mov [bx], ax
            0x66, 0xba, 0x78, 0x56, 0x34, 0x12, // mov edx, 0x12345678
            0x66, 0x81, 0xc2, 0x01, 0x00, 0x00, 0x00, // add edx, 1
            0xcb); // retf: IP and CS, 16 bits each

    static DeviceAccessTest.Machine machine(String mode) {
        DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode);
        LongMode.write(m.g, LongMode.GDT + CODE16, CODE16_DESCRIPTOR);
        m.cpu.gdtLimit = CODE16 + 7;
        LongMode.code(m.g, SIXTEEN, CODE);
        LongMode.code(m.g, BACK, bytes(0xf4)); // hlt
        LongMode.write(m.g, FRAME, BACK | 0x08L << 16); // the RETF's IP and CS
        LongMode.write(m.g, FRAME - 16, SIXTEEN); // the LRETQ's RIP and CS
        LongMode.write(m.g, FRAME - 8, CODE16);
        return m;
    }

    private static void assertRanSixteenBitCode(DeviceAccessTest.Machine m, String mode) {
        X86Vcpu c = m.cpu;
        assertEquals(BACK + 1, c.rip, mode + ": back in 64-bit code at the RETF's IP");
        assertEquals(0x08, c.cs, mode);
        assertTrue(c.code64, mode);
        assertFalse(c.code16, mode);
        assertEquals(0, c.r[X86Vcpu.RCX] & 0xffff, mode + ": the loop ran down CX");
        assertEquals((0xffff + 5050) & 0xffff, LongMode.read(m.g, DATA) & 0xffff, mode + ": AX stored through [BX]");
        assertEquals((0xffff + 5050) & 0xffff, c.r[X86Vcpu.RAX] & 0xffff, mode);
        assertEquals(0x12345679L, c.r[X86Vcpu.RDX] & 0xffffffffL, mode + ": 0x66 selects 32 bits");
        assertEquals(FRAME + 4, c.r[X86Vcpu.RSP] & 0xffffffffL, mode + ": RETF popped two words");
    }

    /** The vCPU at {@link #SIXTEEN} in 16-bit compatibility mode, as a far JMP there leaves it; the stack at {@link #FRAME}. */
    private static void sixteenBitCode(X86Vcpu c) {
        c.sreg[2] = 0x10;
        c.cs = CODE16;
        c.code64 = false;
        c.code16 = true;
        c.updateMode();
        c.rip = SIXTEEN;
        c.r[X86Vcpu.RSP] = FRAME;
    }

    /** LRETQ to a 16-bit code segment sets 16-bit code, the 16-bit RETF back sets 64-bit code. */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void farReturnIntoSixteenBitCompatibilityCodeAndBack(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0xb8, 0x10, 0x00, 0x00, 0x00, // mov eax, 0x10
                    0x8e, 0xd0, // mov ss, eax (a data segment: a 32-bit stack in compatibility mode)
                    0xbc, 0xf0, 0xef, 0x01, 0x00, // mov esp, FRAME - 16
                    0x48, 0xcb)); // lretq
            Exit e = m.run(a -> -1);
            assertTrue(e instanceof Exit.Halt, mode + ": " + e);
            assertRanSixteenBitCode(m, mode);
        }
    }

    /**
     * The vCPU already in 16-bit compatibility mode (as after a far JMP, which set the code size
     * before): the decoded path and compiled blocks must leave the code to the interpreter.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void sixteenBitCompatibilityCodeRunsAsTheInterpreterRunsIt(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            sixteenBitCode(m.cpu);
            Exit e = m.run(a -> -1);
            assertTrue(e instanceof Exit.Halt, mode + ": " + e);
            assertRanSixteenBitCode(m, mode);
        }
    }

    /** An exception in 16-bit compatibility code enters a 64-bit handler, which decodes as 64-bit code. */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void anInterruptFromSixteenBitCodeEntersSixtyFourBitCode(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            LongMode.code(m.g, SIXTEEN, bytes(0xcc)); // int3
            LongMode.code(m.g, LongMode.handler(3), bytes(
                    0xb8, 0x44, 0x33, 0x22, 0x11, // mov eax, 0x11223344 (as 16-bit code: mov ax, 0x3344, then two more instructions)
                    0xf4)); // hlt
            sixteenBitCode(m.cpu);
            Exit e = m.run(a -> -1);
            assertTrue(e instanceof Exit.Halt, mode + ": " + e);
            assertEquals(0x11223344L, m.cpu.r[X86Vcpu.RAX], mode);
            assertEquals(LongMode.handler(3) + 6, m.cpu.rip, mode);
            assertFalse(m.cpu.code16, mode);
        }
    }
}
