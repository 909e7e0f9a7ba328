package io.cloister.cpu.x86.apic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** xAPIC registers at their MMIO offsets: reset values, writable bits, read-only and reserved ones (SDM 11.4-11.5). */
class RegistersTest {
    final TestVm t = new TestVm();
    final LocalApic a = t.a1;

    @Test
    void powerUpValues() {
        LocalApic fresh = new VmApics(TestVm.TSC_HZ).create(3);
        assertEquals(3L << 24, fresh.readMmio(0x20), "ID in bits 31:24");
        assertEquals(0x00050014L, fresh.readMmio(0x30), "version 0x14, max LVT entry 5");
        assertEquals(0xffL, fresh.readMmio(0xf0), "SVR: vector 0xff, software disabled");
        assertEquals(0xffffffffL, fresh.readMmio(0xe0), "DFR: flat model");
        for (int off = 0x320; off <= 0x370; off += 0x10) {
            assertEquals(0x10000L, fresh.readMmio(off), "LVT masked at " + Integer.toHexString(off));
        }
        assertEquals(0xfee00800L, (long) fresh.readMsr(LocalApic.MSR_APIC_BASE), "enabled, not BSP");
        assertEquals(0xfee00900L, (long) new VmApics(TestVm.TSC_HZ).create(0).readMsr(LocalApic.MSR_APIC_BASE), "BSP bit");
        assertEquals(0xfee00000L, fresh.mmioBase());
        LocalApic bsp = new VmApics(TestVm.TSC_HZ).create(0);
        assertEquals(0xffL, bsp.readMmio(0xf0), "the BSP's SVR: software disabled too");
        assertEquals(0x700L, bsp.readMmio(0x350), "the BSP's LINT0: the virtual wire (ExtINT, unmasked), as firmware leaves it");
        for (int off : new int[] {0x320, 0x330, 0x340, 0x360, 0x370}) {
            assertEquals(0x10000L, bsp.readMmio(off), "the BSP's other LVTs masked at " + Integer.toHexString(off));
        }
    }

    @Test
    void tprIsEightBitsAndPprFollowsIt() {
        a.writeMmio(0x80, 0xffffff35L);
        assertEquals(0x35L, a.readMmio(0x80));
        assertEquals(0x35L, a.readMmio(0xa0), "PPR = TPR with nothing in service");
    }

    @Test
    void readOnlyRegistersIgnoreWritesWithoutError() {
        a.writeMmio(0x30, 0);
        a.writeMmio(0xa0, 0xff);
        a.writeMmio(0x100, -1L);
        a.writeMmio(0x390, 5);
        assertEquals(0x00050014L, a.readMmio(0x30));
        assertEquals(0L, a.readMmio(0xa0));
        assertEquals(0L, a.readMmio(0x100));
        a.writeMmio(0x280, 0);
        assertEquals(0L, a.readMmio(0x280), "no illegal-register error for read-only registers");
    }

    @Test
    void reservedRegisterIsAnIllegalRegisterAddressError() {
        assertEquals(0L, a.readMmio(0x40));
        a.writeMmio(0x3f0, 0x40); // SELF IPI exists only in x2APIC mode
        assertFalse(a.bit('i', 0x40), "SELF IPI is not an xAPIC register");
        assertEquals(0L, a.readMmio(0x280), "ESR reads what the last write latched");
        a.writeMmio(0x280, 0);
        assertEquals(0x80L, a.readMmio(0x280), "bit 7: illegal register address");
        a.writeMmio(0x280, 0);
        assertEquals(0L, a.readMmio(0x280), "the next write latches the errors since (none)");
    }

    @Test
    void errorLvtRaisesItsVectorOnANewError() {
        a.writeMmio(0x370, 0xfe);
        t.fixed(1, 3); // illegal vector received
        assertTrue(a.bit('i', 0xfe));
        a.writeMmio(0x280, 0);
        assertEquals(0x40L, a.readMmio(0x280), "bit 6: received illegal vector");
        assertFalse(a.bit('i', 3));
    }

    @Test
    void ldrAndDfrKeepTheirArchitecturalBits() {
        a.writeMmio(0xd0, 0x12345678L);
        assertEquals(0x12000000L, a.readMmio(0xd0), "LDR: bits 31:24");
        a.writeMmio(0xe0, 0x0L);
        assertEquals(0x0fffffffL, a.readMmio(0xe0), "DFR: model in 31:28, the rest reads as ones");
    }

    @Test
    void lvtWritableBits() {
        a.writeMmio(0x320, 0xffffffffL);
        assertEquals(0x700ffL, a.readMmio(0x320), "timer: vector, mask, mode; delivery status read-only");
        a.writeMmio(0x350, 0xffffffffL);
        assertEquals(0x1a7ffL, a.readMmio(0x350), "LINT0: vector, mode, polarity, trigger, mask; remote IRR read-only");
        a.writeMmio(0x370, 0xffffffffL);
        assertEquals(0x100ffL, a.readMmio(0x370), "error: vector and mask");
        a.writeMmio(0x340, 0x4ff);
        assertEquals(0x4ffL, a.readMmio(0x340), "perf: NMI delivery unmasked");
    }

    @Test
    void softwareDisableMasksEveryLvtAndKeepsThemMasked() {
        a.writeMmio(0x350, 0x700);
        assertEquals(0x700L, a.readMmio(0x350));
        a.writeMmio(0xf0, 0xff);
        assertEquals(0x10700L, a.readMmio(0x350));
        a.writeMmio(0x350, 0x700);
        assertEquals(0x10700L, a.readMmio(0x350), "cannot unmask while software-disabled");
        t.fixed(1, 0x40);
        assertFalse(a.bit('i', 0x40), "a software-disabled APIC drops fixed interrupts");
    }

    @Test
    void svrKeepsVectorEnableAndFocusBits() {
        a.writeMmio(0xf0, 0xfffff3ffL);
        assertEquals(0x3ffL, a.readMmio(0xf0));
    }

    @Test
    void isrIrrTmrReadAsEightWordsEach() {
        t.vm.deliver(new io.cloister.api.irq.ApicMessage(1, false, 0x61, io.cloister.api.irq.DeliveryMode.FIXED, true));
        t.fixed(1, 0xe3);
        assertEquals(1L << 1, a.readMmio(0x200 + 3 * 0x10), "IRR word 3 has 0x61");
        assertEquals(1L << 3, a.readMmio(0x200 + 7 * 0x10), "IRR word 7 has 0xe3");
        assertEquals(1L << 1, a.readMmio(0x180 + 3 * 0x10), "TMR: 0x61 is level-triggered");
        assertEquals(0L, a.readMmio(0x180 + 7 * 0x10), "TMR: 0xe3 is edge");
        assertEquals(0xe3, a.takeInterrupt(true));
        assertEquals(1L << 3, a.readMmio(0x100 + 7 * 0x10), "ISR word 7");
        assertEquals(0L, a.readMmio(0x200 + 7 * 0x10));
    }

    @Test
    void icrReadsBackWithDeliveryStatusIdle() {
        a.writeMmio(0x310, 0xff123456L);
        assertEquals(0xff000000L, a.readMmio(0x310), "destination in bits 31:24");
        a.writeMmio(0x300, 0x000c4000L | 0x1000 | 0x40); // all-excluding-self fixed 0x40, status bit set by the guest
        assertEquals(0x000c4040L, a.readMmio(0x300), "delivery status reads idle once delivered");
        assertTrue(t.a0.bit('i', 0x40));
    }

    @Test
    void unalignedAccessesReadZeroAndAreIgnored() {
        a.writeMmio(0x84, 0x55);
        assertEquals(0L, a.readMmio(0x80));
        assertEquals(0L, a.readMmio(0x24));
    }

    @Test
    void xapicIdIsWritableAndRoutesByTheNewId() {
        a.writeMmio(0x20, 7L << 24);
        assertEquals(7L << 24, a.readMmio(0x20));
        t.fixed(7, 0x41);
        assertTrue(a.bit('i', 0x41));
    }

    @Test
    void hardwareDisableResetsTheApicAndStopsDecodingMmio() {
        a.writeMmio(0x80, 0x20);
        assertTrue(a.writeMsr(LocalApic.MSR_APIC_BASE, 0xfee00000L));
        assertEquals(-1, a.mmioBase());
        t.fixed(1, 0x40);
        assertFalse(a.bit('i', 0x40), "a disabled APIC accepts nothing");
        assertTrue(a.writeMsr(LocalApic.MSR_APIC_BASE, 0xfed00800L));
        assertEquals(0xfed00000L, a.mmioBase(), "relocated");
        assertEquals(0L, a.readMmio(0x80), "TPR reset");
        assertEquals(0xffL, a.readMmio(0xf0), "software-disabled again");
    }
}
