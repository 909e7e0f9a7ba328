package io.cloister.cpu.x86.apic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** x2APIC mode (SDM 11.12): IA32_APIC_BASE transitions, the MSR map, and where RDMSR/WRMSR raise #GP. */
class X2ApicTest {
    static final long XAPIC = 0xfee00800L, X2APIC = 0xfee00c00L, DISABLED = 0xfee00000L;
    final TestVm t = new TestVm();
    final LocalApic a = t.a1;

    @Test
    void apicBaseTransitions() {
        assertFalse(a.writeMsr(0x1b, DISABLED | 0x400), "invalid state: extended without enable");
        assertTrue(a.writeMsr(0x1b, X2APIC), "xAPIC -> x2APIC");
        assertFalse(a.writeMsr(0x1b, XAPIC), "x2APIC -> xAPIC");
        assertTrue(a.writeMsr(0x1b, DISABLED), "x2APIC -> disabled");
        assertFalse(a.writeMsr(0x1b, X2APIC), "disabled -> x2APIC");
        assertTrue(a.writeMsr(0x1b, XAPIC), "disabled -> xAPIC");
        assertTrue(a.writeMsr(0x1b, X2APIC));
        assertTrue(a.writeMsr(0x1b, X2APIC), "staying is legal");
        assertFalse(a.writeMsr(0x1b, X2APIC | 0x1), "reserved bits 7:0");
        assertFalse(a.writeMsr(0x1b, X2APIC | 1L << 52), "above the physical address width");
        assertTrue(a.writeMsr(0x1b, X2APIC | 0x100));
        assertEquals(X2APIC, (long) a.readMsr(0x1b), "BSP is read-only");
    }

    @Test
    void registersOnlyInX2apicMode() {
        assertNull(a.readMsr(0x802), "x2APIC MSRs #GP in xAPIC mode");
        assertFalse(a.writeMsr(0x808, 0));
        TestVm.x2apic(a);
        assertEquals(-1, a.mmioBase(), "no MMIO page in x2APIC mode");
        assertEquals(1L, (long) a.readMsr(0x802), "32-bit ID");
        assertEquals(0x00050014L, (long) a.readMsr(0x803));
        assertEquals(0x2L, (long) a.readMsr(0x80d), "LDR: cluster 0 (ID >> 4) in 31:16, bit 1 (ID & 15)");
        assertTrue(a.writeMsr(0x808, 0x30));
        assertEquals(0x30L, (long) a.readMsr(0x808));
        assertEquals(0x30L, (long) a.readMsr(0x80a), "PPR");
        assertEquals(0x1ffL, (long) a.readMsr(0x80f));
        assertTrue(a.writeMsr(0x832, 0x20040));
        assertEquals(0x20040L, (long) a.readMsr(0x832));
        assertTrue(a.writeMsr(0x83e, 0xb));
        assertTrue(a.writeMsr(0x838, 1_000_000));
        assertEquals(1_000_000L, (long) a.readMsr(0x839));
    }

    @Test
    void generalProtectionCases() {
        TestVm.x2apic(a);
        assertFalse(a.writeMsr(0x802, 5), "ID is read-only");
        assertFalse(a.writeMsr(0x803, 0), "version is read-only");
        assertFalse(a.writeMsr(0x80a, 0), "PPR");
        assertFalse(a.writeMsr(0x80d, 0), "LDR is read-only in x2APIC mode");
        assertFalse(a.writeMsr(0x810, 0), "ISR");
        assertFalse(a.writeMsr(0x839, 0), "current count");
        assertNull(a.readMsr(0x80b), "EOI is write-only");
        assertNull(a.readMsr(0x83f), "SELF IPI is write-only");
        assertNull(a.readMsr(0x80e), "no DFR");
        assertNull(a.readMsr(0x831), "no ICR high half");
        assertNull(a.readMsr(0x809), "no APR");
        assertNull(a.readMsr(0x80c), "no remote read");
        assertNull(a.readMsr(0x82f), "no CMCI LVT (max LVT entry 5)");
        assertNull(a.readMsr(0x8ff), "reserved");
        assertFalse(a.writeMsr(0x80b, 1), "EOI with a non-zero value");
        assertTrue(a.writeMsr(0x80b, 0));
        assertFalse(a.writeMsr(0x828, 1), "ESR with a non-zero value");
        assertFalse(a.writeMsr(0x808, 1L << 32), "bits 63:32 reserved outside the ICR");
    }

    @Test
    void icrIsOneMsrWithA32BitDestination() {
        TestVm.x2apic(t.a0);
        TestVm.x2apic(a);
        assertTrue(t.a0.writeMsr(0x830, 1L << 32 | 0x4055));
        assertTrue(a.bit('i', 0x55));
        assertEquals(1L << 32 | 0x4055, (long) t.a0.readMsr(0x830));
        assertTrue(t.a0.writeMsr(0x830, 0xffL << 32 | 0x4056));
        assertFalse(a.bit('i', 0x56), "0xff is APIC ID 255 in x2APIC mode, not a broadcast");
        assertTrue(t.a0.writeMsr(0x830, 0xffffffffL << 32 | 0x4057));
        assertTrue(a.bit('i', 0x57) && t.a0.bit('i', 0x57), "0xffffffff is");
        assertTrue(t.a0.writeMsr(0x830, 0x2L << 32 | 0x4858));
        assertTrue(a.bit('i', 0x58), "logical: cluster 0, bit 1");
        assertFalse(t.a0.bit('i', 0x58));
    }

    @Test
    void selfIpi() {
        TestVm.x2apic(a);
        assertTrue(a.writeMsr(0x83f, 0x61));
        assertEquals(0x61, a.takeInterrupt(true));
        assertFalse(t.a0.pending);
    }

    @Test
    void disablingReturnsToTheXapicIdOnReenable() {
        TestVm.x2apic(a);
        assertTrue(a.writeMsr(0x1b, DISABLED));
        assertTrue(a.writeMsr(0x1b, XAPIC));
        assertEquals(1L << 24, a.readMmio(0x20));
        assertNull(a.readMsr(0x802));
    }

    @Test
    void tscDeadlineMsrExistsInEitherMode() {
        assertTrue(LocalApic.handles(0x6e0) && LocalApic.handles(0x1b) && LocalApic.handles(0x8ff));
        assertFalse(LocalApic.handles(0x900) || LocalApic.handles(0x7ff));
        assertEquals(0L, (long) a.readMsr(0x6e0));
    }
}
