package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * What CR0.EM/TS/MP/NE and CR4.OSFXSR/OSXMMEXCPT make of x87, SSE and FXSAVE (SDM vol. 3, table
 * 2-2 and 13.1): #UD, #NM, #XM or #MF in the guest, the destination left as it was; and the CPUID
 * bits that advertise what is backed. In all three execution modes.
 */
class FpuControlTest {
    static final int HLT = 0xf4;

    /** Runs {@code code} with the given CR0 bits added and CR4 bits; returns the vector taken, or -1 for the final hlt. */
    private static int run(String mode, long cr0, long cr4, byte[] code, DeviceAccessTest.Machine[] keep) {
        DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode);
        keep[0] = m;
        m.cpu.cr0 |= cr0;
        m.cpu.cr4 |= cr4;
        LongMode.code(m.g, LongMode.CODE, code);
        assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
        for (int v = 0; v < 32; v++) {
            if (m.cpu.rip == LongMode.handler(v) + 1) {
                return v;
            }
        }
        return -1;
    }

    private static int vector(String mode, long cr0, long cr4, int... code) {
        DeviceAccessTest.Machine[] m = new DeviceAccessTest.Machine[1];
        try {
            return run(mode, cr0, cr4, Code.bytes(code), m);
        } finally {
            m[0].close();
        }
    }

    static final long OSFXSR = FpuInsns.CR4_OSFXSR;
    static final long XMMEXCPT = FpuInsns.CR4_OSXMMEXCPT;

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void controlRegistersDecideBetweenRunningAndFaulting(String mode) {
        int[] addpd = {0x66, 0x0f, 0x58, 0xc1, HLT};
        assertEquals(-1, vector(mode, 0, OSFXSR, addpd), "SSE runs with CR4.OSFXSR");
        assertEquals(6, vector(mode, 0, 0, addpd), "SSE without CR4.OSFXSR: #UD");
        assertEquals(6, vector(mode, FpuInsns.CR0_EM, OSFXSR, addpd), "SSE under CR0.EM: #UD");
        assertEquals(7, vector(mode, FpuInsns.CR0_TS, OSFXSR, addpd), "SSE under CR0.TS: #NM");
        int[] fninit = {0xdb, 0xe3, HLT};
        assertEquals(-1, vector(mode, 0, 0, fninit), "x87 needs no CR4 bit");
        assertEquals(7, vector(mode, FpuInsns.CR0_EM, 0, fninit), "x87 under CR0.EM: #NM");
        assertEquals(7, vector(mode, FpuInsns.CR0_TS, 0, fninit), "x87 under CR0.TS: #NM");
        int[] fwait = {0x9b, HLT};
        assertEquals(-1, vector(mode, FpuInsns.CR0_TS, 0, fwait), "FWAIT ignores TS without MP");
        assertEquals(7, vector(mode, FpuInsns.CR0_TS | FpuInsns.CR0_MP, 0, fwait), "FWAIT under TS and MP: #NM");
        int[] fxsave = {0x0f, 0xae, 0x04, 0x25, 0x00, 0x40, 0x00, 0x00, HLT}; // fxsave 0x4000
        assertEquals(-1, vector(mode, 0, OSFXSR, fxsave));
        assertEquals(7, vector(mode, FpuInsns.CR0_TS, OSFXSR, fxsave), "FXSAVE under CR0.TS: #NM");
        int[] misaligned = {0x0f, 0xae, 0x04, 0x25, 0x08, 0x40, 0x00, 0x00, HLT};
        assertEquals(13, vector(mode, 0, OSFXSR, misaligned), "FXSAVE to a misaligned area: #GP");
        int[] clts = {0x0f, 0x06, 0x66, 0x0f, 0x58, 0xc1, HLT};
        assertEquals(-1, vector(mode, FpuInsns.CR0_TS, OSFXSR, clts), "CLTS clears TS");
        int[] undefined = {0x0f, 0x38, 0x00, 0xc1, HLT}; // PSHUFB (SSSE3): not advertised
        assertEquals(6, vector(mode, 0, OSFXSR, undefined));
    }

    /**
     * An unmasked SSE exception: #XM with CR4.OSXMMEXCPT, else #UD; the destination keeps its
     * value and MXCSR records the flag. An unmasked pending x87 exception: #MF at the next waiting
     * instruction (CR0.NE), not at a non-waiting one.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void unmaskedExceptionsFault(String mode) {
        int[] divideByZero = {
            0xc7, 0x04, 0x25, 0x00, 0x40, 0x00, 0x00, 0x80, 0x1d, 0x00, 0x00, // movl $0x1d80, 0x4000 (ZM clear)
            0x0f, 0xae, 0x14, 0x25, 0x00, 0x40, 0x00, 0x00, // ldmxcsr 0x4000
            0xb8, 0x01, 0x00, 0x00, 0x00, // mov $1, %eax
            0xf2, 0x0f, 0x2a, 0xc0, // cvtsi2sd %eax, %xmm0
            0x66, 0x0f, 0xef, 0xc9, // pxor %xmm1, %xmm1
            0xf2, 0x0f, 0x5e, 0xc1, // divsd %xmm1, %xmm0
            HLT};
        DeviceAccessTest.Machine[] m = new DeviceAccessTest.Machine[1];
        try {
            assertEquals(19, run(mode, 0, OSFXSR | XMMEXCPT, Code.bytes(divideByZero), m), "#XM");
            assertEquals(0x3ff0000000000000L, m[0].cpu.fpu.xmm[0], "xmm0 keeps 1.0");
            assertEquals(0x1d84, m[0].cpu.fpu.mxcsr, "ZE recorded");
        } finally {
            m[0].close();
        }
        assertEquals(6, vector(mode, 0, OSFXSR, divideByZero), "#UD without CR4.OSXMMEXCPT");
        int[] pending = {
            0xc7, 0x04, 0x25, 0x00, 0x40, 0x00, 0x00, 0x7e, 0x03, 0x00, 0x00, // FCW 0x37e: IM clear
            0xc7, 0x04, 0x25, 0x04, 0x40, 0x00, 0x00, 0x81, 0x00, 0x00, 0x00, // FSW: IE, ES
            0xc7, 0x04, 0x25, 0x08, 0x40, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, // FTW: empty
            0xd9, 0x24, 0x25, 0x00, 0x40, 0x00, 0x00, // fldenv 0x4000
            0xdf, 0xe0, // fnstsw %ax: no wait, no fault
            0x9b, // fwait: #MF
            HLT};
        try {
            assertEquals(16, run(mode, FpuInsns.CR0_NE, 0, Code.bytes(pending), m), "#MF");
            assertEquals(0x8081, m[0].cpu.r[X86Vcpu.RAX] & 0xffff, "FNSTSW ran first: IE, ES and B");
        } finally {
            m[0].close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted"})
    void cpuidAdvertisesWhatIsBacked(String mode) {
        DeviceAccessTest.Machine[] m = new DeviceAccessTest.Machine[1];
        try {
            run(mode, 0, 0, Code.bytes(0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0xa2, HLT), m); // mov $1, %eax; cpuid
            long edx = m[0].cpu.r[X86Vcpu.RDX];
            long ecx = m[0].cpu.r[X86Vcpu.RCX];
            for (int bit : new int[] {0, 23, 24, 25, 26}) {
                assertTrue((edx & (1L << bit)) != 0, "CPUID.1:EDX bit " + bit + " (FPU, MMX, FXSR, SSE, SSE2)");
            }
            // SSE3, SSSE3, FMA, SSE4.1, SSE4.2, XSAVE, OSXSAVE, AVX: not backed, not advertised
            for (int bit : new int[] {0, 9, 12, 19, 20, 26, 27, 28}) {
                assertEquals(0, ecx & (1L << bit), "CPUID.1:ECX bit " + bit);
            }
        } finally {
            m[0].close();
        }
    }
}
