package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * MSRs beyond the system call ones (PrivilegeTest): IA32_TSC_ADJUST, which Linux needs to trust the
 * TSC without its clocksource watchdog, moves the TSC, and a write to the TSC moves it; address
 * MSRs refuse non-canonical values and PAT reserved memory types, with #GP(0).
 */
class MsrsTest {
    static final long TEN_SECONDS = 30_000_000_000L;

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void tscAdjustMovesTheTscAndATscWriteMovesTscAdjust(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0xb9, 0x3b, 0x00, 0x00, 0x00, 0x0f, 0x32, 0x49, 0x89, 0xc0, // rdmsr TSC_ADJUST -> r8
                    0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0, 0x49, 0x89, 0xc1, // rdtsc -> r9
                    0xb9, 0x3b, 0x00, 0x00, 0x00, 0x31, 0xc0, 0xba, 0x10, 0x00, 0x00, 0x00, 0x0f, 0x30, // TSC_ADJUST = 1 << 36
                    0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0, 0x49, 0x89, 0xc2, // rdtsc -> r10
                    0xb9, 0x10, 0x00, 0x00, 0x00, 0x31, 0xc0, 0x31, 0xd2, 0x0f, 0x30, // TSC = 0
                    0xb9, 0x3b, 0x00, 0x00, 0x00, 0x0f, 0x32, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0, 0x49, 0x89, 0xc3, // TSC_ADJUST -> r11
                    0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0, 0x49, 0x89, 0xc4, // rdtsc -> r12
                    0xf4));
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            long[] r = m.cpu.r;
            assertEquals(0, r[8], "TSC_ADJUST starts at 0");
            long moved = r[10] - r[9];
            assertTrue(moved >= 1L << 36 && moved < (1L << 36) + TEN_SECONDS, "TSC_ADJUST = 2^36 moved the TSC by " + moved);
            assertTrue(r[11] < 0, "writing TSC = 0 made TSC_ADJUST minus the clock's TSC: " + r[11]);
            assertTrue(r[12] >= 0 && r[12] < TEN_SECONDS, "the TSC counts from 0: " + r[12]);
        }
    }

    /**
     * IA32_ARCH_CAPABILITIES says what a processor that does not speculate is not subject to, the
     * bits Linux reads before it picks its mitigations: RDCL_NO (bit 0, no page-table isolation),
     * MDS_NO (5), TAA_NO (8), BHI_NO (20), GDS_NO (26), RFDS_NO (27) and ITS_NO (62: no return thunks).
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void archCapabilitiesSayNoSpeculationBugs(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0xb9, 0x0a, 0x01, 0x00, 0x00, 0x0f, 0x32, // rdmsr ARCH_CAPABILITIES
                    0xf4));
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            long caps = m.cpu.r[X86Vcpu.RDX] << 32 | m.cpu.r[X86Vcpu.RAX];
            for (int bit : new int[] {0, 5, 8, 20, 26, 27, 62}) {
                assertTrue((caps >>> bit & 1) == 1, mode + ": bit " + bit + " of ARCH_CAPABILITIES 0x" + Long.toHexString(caps));
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void nonCanonicalLstarAndAReservedPatTypeAreGp(String mode) {
        for (long[] msrValue : new long[][] {{0xc0000082L, 0x0000800000000000L}, {0xc0000100L, 0x8000000000000000L},
            {0x277, 0x0007040600070402L}, {0xc0000103L, 1L << 32}}) {
            try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
                LongMode.code(m.g, LongMode.CODE, bytes(0x0f, 0x30, 0xf4)); // wrmsr; hlt
                m.cpu.r[X86Vcpu.RCX] = msrValue[0];
                m.cpu.r[X86Vcpu.RAX] = msrValue[1] & 0xffffffffL;
                m.cpu.r[X86Vcpu.RDX] = msrValue[1] >>> 32;
                assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
                assertEquals(LongMode.handler(X86Vcpu.VEC_GP) + 1, m.cpu.rip, "#GP for " + Long.toHexString(msrValue[0]));
                assertEquals(0, LongMode.read(m.g, m.cpu.r[X86Vcpu.RSP]), "error code 0");
            }
        }
    }
}
