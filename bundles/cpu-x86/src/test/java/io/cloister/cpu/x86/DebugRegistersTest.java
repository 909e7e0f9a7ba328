package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * MOV to and from DR0-DR7 (0F 21/0F 23): Debian's kernel reads the debug registers early in boot
 * (pv_native_get_debugreg) and stopped there with #UD. Values read back as written, DR6/DR7 with
 * their fixed bits, DR4/DR5 alias DR6/DR7 (CR4.DE clear).
 */
class DebugRegistersTest {
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void debugRegistersReadBackWhatWasWritten(String mode) {
        byte[] code = Code.bytes(
                0x48, 0xc7, 0xc0, 0x34, 0x12, 0x00, 0x00, // mov $0x1234, %rax
                0x0f, 0x23, 0xd8, // mov %rax, %dr3
                0x0f, 0x21, 0xdb, // mov %dr3, %rbx
                0x0f, 0x21, 0xf9, // mov %dr7, %rcx
                0x0f, 0x21, 0xe2, // mov %dr4, %rdx (DR6)
                0x31, 0xc0, // xor %eax, %eax
                0x0f, 0x23, 0xf8, // mov %rax, %dr7
                0x0f, 0x21, 0xee, // mov %dr5, %rsi (DR7)
                0xf4);
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, code);
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(0x1234, m.cpu.r[X86Vcpu.RBX], "DR3");
            assertEquals(0x400, m.cpu.r[X86Vcpu.RCX], "DR7 at reset");
            assertEquals(0xffff0ff0L, m.cpu.r[X86Vcpu.RDX], "DR4 reads DR6");
            assertEquals(0x400, m.cpu.r[X86Vcpu.RSI], "DR7 keeps bit 10 set");
        }
    }
}
