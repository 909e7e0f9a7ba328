package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * The #PF error code bits Linux's fault handler reads (W with CR0.WP, I/D only where NX is on) and
 * MOV to segment registers with their checks (FS takes the descriptor's base, a null SS at CPL 0
 * in 64-bit mode, #GP(selector) for a system descriptor), plus ICEBP (INT1). All three execution modes.
 */
class PageFaultCodesAndSegmentLoadsTest {
    static final long PF = PrivilegeTest.PF_HANDLER;

    static DeviceAccessTest.Machine machine(String mode) {
        DeviceAccessTest.Machine m = PrivilegeTest.machine(mode);
        LongMode.write(m.g, LongMode.PDPT + 8 * 4, 0x81); // 4 GiB: physical 0, read-only, supervisor
        LongMode.write(m.g, LongMode.PDPT + 8 * 5, 0x83 | 1L << 63); // 5 GiB: physical 0, no-execute
        LongMode.code(m.g, PF, bytes(0x41, 0x58, 0x41, 0x0f, 0x20, 0xd1, 0x49, 0x89, 0xe2, 0xf4)); // pop %r8; mov %cr2, %r9; mov %rsp, %r10; hlt
        PrivilegeTest.gate(m, 14, PF, 0, 0);
        m.cpu.r[8] = 0x5555;
        m.cpu.flushTlb();
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void supervisorWritesToReadOnlyPagesFaultOnlyUnderWp(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // movabs $0x100000000, %rax
                    0xc6, 0x80, 0x00, 0x90, 0x00, 0x00, 0x01, // movb $1, 0x9000(%rax): CR0.WP clear, allowed
                    0x0f, 0x20, 0xc3, 0x48, 0x81, 0xcb, 0x00, 0x00, 0x01, 0x00, 0x0f, 0x22, 0xc3, // CR0.WP = 1
                    0xc6, 0x80, 0x00, 0x90, 0x00, 0x00, 0x02, // movb $2, 0x9000(%rax): #PF
                    0xf4));
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(PF + 10, m.cpu.rip);
            assertEquals(3, m.cpu.r[8], "present, write, supervisor");
            assertEquals(0x100009000L, m.cpu.r[9]);
            assertEquals(1, m.g.guestReadLong(0x9000) & 0xff, "the first write went through, the second did not");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void instructionFetchBitOnlyWithNx(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            // Without EFER.NXE: a fetch from a page that is not present has error code 0.
            LongMode.code(m.g, LongMode.CODE, bytes(0x48, 0xb8, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0xff, 0xe0)); // jmp 6 GiB
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(0, m.cpu.r[8], "not present, read, supervisor, no I/D without NX");
            assertEquals(0x180000000L, m.cpu.r[9]);
        }
        try (DeviceAccessTest.Machine m = machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00, 0x08, 0x00, 0x00, 0x0f, 0x30, // EFER.NXE
                    0x48, 0xb8, 0x00, 0x90, 0x00, 0x40, 0x01, 0x00, 0x00, 0x00, 0xff, 0xe0)); // jmp 5 GiB + 0x9000
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(0x11, m.cpu.r[8], "present, instruction fetch");
            assertEquals(0x140009000L, m.cpu.r[9]);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void segmentLoadsCheckTheirDescriptors(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            LongMode.write(m.g, LongMode.GDT + 0x50, 0x12cff2345000ffffL); // data, DPL 3, base 0x12345000
            m.cpu.gdtLimit = 0x57;
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0xb8, 0x53, 0x00, 0x00, 0x00, 0x8e, 0xe0, // mov $0x53, %fs
                    0x8c, 0xe3, // mov %fs, %ebx
                    0x31, 0xc0, 0x8e, 0xd0, // mov $0, %ss: allowed at CPL 0 in 64-bit mode
                    0xb8, 0x30, 0x00, 0x00, 0x00, 0x8e, 0xd8, // mov $0x30 (the TSS), %ds: #GP(0x30)
                    0xf4));
            LongMode.code(m.g, PrivilegeTest.GP_HANDLER, bytes(0x41, 0x58, 0x49, 0x89, 0xe2, 0xf4));
            PrivilegeTest.gate(m, 13, PrivilegeTest.GP_HANDLER, 0, 0);
            m.cpu.sreg[2] = 0x10;
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(0x53, m.cpu.r[X86Vcpu.RBX]);
            assertEquals(0x12345000L, m.cpu.fsBase, "FS takes the descriptor's base");
            assertEquals(0, m.cpu.sreg[2]);
            assertEquals(0x30, m.cpu.r[8], "#GP(selector) for a system descriptor in DS");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void icebpRaisesADebugTrapPastItself(String mode) {
        try (DeviceAccessTest.Machine m = PrivilegeTest.machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(0x90, 0xf1, 0xf4)); // nop; int1
            LongMode.code(m.g, PrivilegeTest.GP_HANDLER, bytes(0x4c, 0x8b, 0x04, 0x24, 0xf4)); // mov (%rsp), %r8; hlt
            PrivilegeTest.gate(m, 1, PrivilegeTest.GP_HANDLER, 0, 0); // DPL 0: INT1 is not checked against it
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(PrivilegeTest.GP_HANDLER + 5, m.cpu.rip, "#DB delivered");
            assertEquals(LongMode.CODE + 2, m.cpu.r[8], "a trap: the return address is past INT1");
        }
    }
}
