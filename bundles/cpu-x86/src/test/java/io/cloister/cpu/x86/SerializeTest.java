package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * SERIALIZE (NP 0F 01 E8), which CPUID advertises (leaf 7, EDX bit 14; SDM vol. 2, SERIALIZE):
 * Linux's sync_core() uses it instead of an IRET to itself. With a 66 prefix it is not SERIALIZE: #UD.
 */
class SerializeTest {
    @Test
    void cpuidAdvertisesSerialize() {
        assertTrue((X86Engine.DEFAULT.cpuid(7, 0)[3] & 1 << 14) != 0, "SERIALIZE");
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void serializeGoesOnToTheNextInstruction(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1
                    0x0f, 0x01, 0xe8, // serialize
                    0xff, 0xc0, // inc eax
                    0x0f, 0x01, 0xe8, // serialize
                    0xff, 0xc0, // inc eax
                    0xf4));
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(LongMode.CODE + 16, m.cpu.rip, "halted after the last instruction " + mode);
            assertEquals(3, m.cpu.r[X86Vcpu.RAX], mode);
            assertEquals(6, m.cpu.instructions(), mode);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void anOperandSizePrefixMakesItUndefined(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(0x66, 0x0f, 0x01, 0xe8, 0xf4));
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(LongMode.handler(6) + 1, m.cpu.rip, "#UD " + mode);
        }
    }
}
