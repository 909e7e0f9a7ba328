package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * 0F C7 (group 9): CMPXCHG8B, which CPUID's CX8 bit has always advertised, and RDRAND/RDSEED, which
 * CPUID now advertises (SDM vol. 2: CMPXCHG8B, RDRAND, RDSEED); CMPXCHG16B is #UD, as CX16 is not
 * advertised.
 */
class Group9Test {
    private static final long DATA = 0x8000;
    private static final int ZF = 1 << 6;
    private static final int CF = 1;

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void cmpxchg8bStoresWhenEqualAndLoadsWhenNot(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.write(m.g, DATA, 0x1122334455667788L);
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0xbe, 0x00, 0x80, 0x00, 0x00, // mov esi, DATA
                    0xb8, 0x88, 0x77, 0x66, 0x55, 0xba, 0x44, 0x33, 0x22, 0x11, // edx:eax = the value
                    0xbb, 0x0d, 0xf0, 0xad, 0x0b, 0xb9, 0xef, 0xbe, 0xad, 0xde, // ecx:ebx = deadbeef:0badf00d
                    0xf0, 0x0f, 0xc7, 0x0e, // lock cmpxchg8b [rsi]: equal, stores
                    0x9c, 0x41, 0x58, // pushf; pop r8
                    0xf0, 0x0f, 0xc7, 0x0e, // again: not equal now, loads edx:eax
                    0x9c, 0x41, 0x59, // pushf; pop r9
                    0xf4));
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            long[] r = m.cpu.r;
            assertEquals(0xdeadbeef0badf00dL, LongMode.read(m.g, DATA), "stored ecx:ebx " + mode);
            assertEquals(ZF, r[8] & ZF, "ZF set when equal " + mode);
            assertEquals(0, r[9] & ZF, "ZF clear when not " + mode);
            assertEquals(0x0badf00dL, r[X86Vcpu.RAX], "eax loaded " + mode);
            assertEquals(0xdeadbeefL, r[X86Vcpu.RDX], "edx loaded " + mode);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void rdrandAndRdseedSetCfAndGiveRandomValues(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0x48, 0x0f, 0xc7, 0xf0, // rdrand rax
                    0x9c, 0x41, 0x58, // pushf; pop r8
                    0x48, 0x0f, 0xc7, 0xfb, // rdseed rbx
                    0x66, 0x0f, 0xc7, 0xf1, // rdrand cx (16 bits)
                    0x0f, 0xc7, 0xf2, // rdrand edx (32 bits, zero-extended)
                    0xf4));
            long[] r = m.cpu.r;
            r[X86Vcpu.RCX] = -1L;
            r[X86Vcpu.RDX] = -1L;
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(CF, r[8] & (CF | ZF | 1 << 11 | 1 << 7), "CF set, ZF OF SF clear " + mode);
            assertNotEquals(r[X86Vcpu.RAX], r[X86Vcpu.RBX], "two 64-bit random values differ " + mode);
            assertEquals(0xffffffffffff0000L, r[X86Vcpu.RCX] & ~0xffffL, "a 16-bit RDRAND keeps the rest " + mode);
            assertEquals(0, r[X86Vcpu.RDX] >>> 32, "a 32-bit RDRAND zero-extends " + mode);
        }
    }

    @Test
    void cpuidAdvertisesRdrandAndRdseedAndNotCx16() {
        int[] l1 = X86Engine.DEFAULT.cpuid(1, 0);
        assertTrue((l1[2] & 1 << 30) != 0, "RDRAND");
        assertEquals(0, l1[2] & 1 << 13, "CX16");
        assertTrue((l1[3] & 1 << 8) != 0, "CX8");
        assertTrue((X86Engine.DEFAULT.cpuid(7, 0)[1] & 1 << 18) != 0, "RDSEED");
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void cmpxchg16bAndRegisterCmpxchg8bAreUd(String mode) {
        for (byte[] code : new byte[][] {bytes(0x48, 0x0f, 0xc7, 0x0e, 0xf4), bytes(0x0f, 0xc7, 0xc8, 0xf4)}) {
            try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
                LongMode.code(m.g, LongMode.CODE, code);
                m.cpu.r[X86Vcpu.RSI] = DATA;
                m.run(a -> -1);
                assertEquals(LongMode.handler(6), m.cpu.rip - 1, "#UD handler reached (it halts) " + mode);
            }
        }
    }
}
