package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * The engine implements none of the 0F38 and 0F3A maps nor VEX/EVEX/XOP (they raise #UD), so
 * CPUID must advertise no feature whose instructions live there: glibc and the kernel pick code
 * paths (string functions, crypto, CRC) by these bits, and an advertised bit whose instructions
 * #UD would stop them. A bit added to the model for such an instruction fails here first.
 */
class UnadvertisedMapsTest {
    /** A CPUID bit: leaf, subleaf, register (0 EAX .. 3 EDX), bit, and what lives in the unimplemented maps. */
    record Bit(int leaf, int sub, int reg, int bit, String name) {
    }

    static final int EAX = 0, EBX = 1, ECX = 2, EDX = 3;

    /** Every feature bit whose instructions are in 0F38, 0F3A, VEX, EVEX or XOP (SDM vol. 2, table 3-8 and 3-11; AMD APM vol. 3, E.3). */
    static final List<Bit> UNIMPLEMENTED = List.of(
            new Bit(1, 0, ECX, 0, "SSE3 (also 0F map: not implemented)"),
            new Bit(1, 0, ECX, 1, "PCLMULQDQ (66 0F3A 44)"),
            new Bit(1, 0, ECX, 9, "SSSE3 (0F38 00-1E, 0F3A 0F)"),
            new Bit(1, 0, ECX, 12, "FMA (VEX 0F38)"),
            new Bit(1, 0, ECX, 19, "SSE4.1 (66 0F38, 66 0F3A)"),
            new Bit(1, 0, ECX, 20, "SSE4.2 (F2 0F38 F0/F1 CRC32, 66 0F3A 60-63)"),
            new Bit(1, 0, ECX, 22, "MOVBE (0F38 F0/F1)"),
            new Bit(1, 0, ECX, 25, "AES (66 0F38 DB-DF, 66 0F3A DF)"),
            new Bit(1, 0, ECX, 26, "XSAVE (needed for any VEX state)"),
            new Bit(1, 0, ECX, 28, "AVX (VEX)"),
            new Bit(1, 0, ECX, 29, "F16C (VEX 0F38 13, 0F3A 1D)"),
            new Bit(7, 0, EBX, 3, "BMI1 (VEX 0F38 F2-F7)"),
            new Bit(7, 0, EBX, 5, "AVX2 (VEX)"),
            new Bit(7, 0, EBX, 8, "BMI2 (VEX 0F38 F5-F7, 0F3A F0)"),
            new Bit(7, 0, EBX, 10, "INVPCID (66 0F38 82)"),
            new Bit(7, 0, EBX, 16, "AVX512F (EVEX)"),
            new Bit(7, 0, EBX, 19, "ADX (66/F3 0F38 F6)"),
            new Bit(7, 0, EBX, 29, "SHA (0F38 C8-CD, 0F3A CC)"),
            new Bit(7, 0, ECX, 8, "GFNI (66 0F38 CF, 66 0F3A CE/CF)"),
            new Bit(7, 0, ECX, 9, "VAES (VEX/EVEX)"),
            new Bit(7, 0, ECX, 10, "VPCLMULQDQ (VEX/EVEX)"),
            new Bit(7, 0, ECX, 23, "Key Locker (F3 0F38 D8-DF)"),
            new Bit(7, 0, ECX, 27, "MOVDIRI (0F38 F9)"),
            new Bit(7, 0, ECX, 28, "MOVDIR64B (66 0F38 F8)"),
            new Bit(7, 0, ECX, 29, "ENQCMD (F2/F3 0F38 F8)"),
            new Bit(7, 0, EDX, 24, "AMX-TILE (VEX)"),
            new Bit(7, 1, EAX, 4, "AVX-VNNI (VEX)"),
            new Bit(0x80000001, 0, ECX, 6, "SSE4A (0F 78/79, F2/F3 0F 2B: not implemented)"),
            new Bit(0x80000001, 0, ECX, 11, "XOP (8F map)"),
            new Bit(0x80000001, 0, ECX, 16, "FMA4 (VEX 0F3A)"),
            new Bit(0x80000001, 0, ECX, 21, "TBM (XOP)"));

    private static int[] cpuid(X86Vcpu c, int leaf, int sub) {
        c.r[X86Vcpu.RAX] = leaf;
        c.r[X86Vcpu.RCX] = sub;
        c.cpuid();
        return new int[] {(int) c.r[X86Vcpu.RAX], (int) c.r[X86Vcpu.RBX], (int) c.r[X86Vcpu.RCX], (int) c.r[X86Vcpu.RDX]};
    }

    /** The vCPU as the engine makes it (with its APIC, whose bits CPUID adds): none of these bits is set. */
    @Test
    void noFeatureOfTheUnimplementedMapsIsAdvertised() {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine("interpreted")) {
            int maxBasic = cpuid(m.cpu, 0, 0)[EAX];
            int maxExtended = cpuid(m.cpu, 0x80000000, 0)[EAX];
            List<String> advertised = new ArrayList<>();
            for (Bit b : UNIMPLEMENTED) {
                boolean present = b.leaf() < 0x80000000 ? b.leaf() <= maxBasic : Integer.compareUnsigned(b.leaf(), maxExtended) <= 0;
                if (present && (cpuid(m.cpu, b.leaf(), b.sub())[b.reg()] & 1 << b.bit()) != 0) {
                    advertised.add(b.name());
                }
            }
            assertTrue(advertised.isEmpty(), "CPUID advertises instructions the engine does not have: " + advertised);
            assertEquals(1 << 23, cpuid(m.cpu, 1, 0)[ECX] & 1 << 23, "POPCNT (0F B8), which is implemented, stays advertised");
        }
    }

    /** A form of each map raises #UD in the guest, on every path (the vector 6 handler halts). */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void theMapsRaiseUndefinedOpcode(String mode) {
        byte[][] forms = {
            bytes(0x66, 0x0f, 0x38, 0x00, 0xc1), // pshufb xmm0, xmm1 (SSSE3)
            bytes(0x66, 0x0f, 0x3a, 0x0f, 0xc1, 0x04), // palignr xmm0, xmm1, 4 (SSSE3)
            bytes(0xf2, 0x0f, 0x38, 0xf1, 0xc1), // crc32 eax, ecx (SSE4.2)
            bytes(0x0f, 0x38, 0xf0, 0x03), // movbe eax, [rbx] (MOVBE)
        };
        for (byte[] form : forms) {
            try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
                LongMode.code(m.g, LongMode.CODE, form);
                m.cpu.r[X86Vcpu.RBX] = 0x8000;
                Exit e = m.run(a -> -1);
                assertTrue(e instanceof Exit.Halt, mode + ": " + e);
                assertEquals(LongMode.handler(6) + 1, m.cpu.rip, mode + ": #UD for " + java.util.HexFormat.of().formatHex(form));
            }
        }
    }
}
