package io.cloister.cpu.x86.apic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.irq.ApicMessage;
import io.cloister.api.irq.DeliveryMode;

/** Which interrupt a vCPU takes and when (SDM 11.8.3-11.8.5): IRR, PPR, TPR, ISR nesting, EOI. */
class PriorityTest {
    final TestVm t = new TestVm();
    final LocalApic a = t.a0;

    @Test
    void nothingPendingIsOneVolatileFalse() {
        assertFalse(a.pending);
        assertEquals(-1, a.nextInterrupt(true));
        t.fixed(0, 0x40);
        assertTrue(a.pending);
        assertFalse(t.a1.pending, "only the addressed APIC");
    }

    @Test
    void interruptsDisabledTakesNothingButKeepsItPending() {
        t.fixed(0, 0x40);
        assertEquals(-1, a.nextInterrupt(false));
        assertEquals(-1, a.takeInterrupt(false));
        assertTrue(a.pending);
        assertEquals(0x40, a.takeInterrupt(true));
        assertFalse(a.pending, "in service now");
    }

    @Test
    void highestVectorFirst() {
        t.fixed(0, 0x41);
        t.fixed(0, 0x92);
        t.fixed(0, 0x50);
        assertEquals(0x92, a.nextInterrupt(true));
    }

    @Test
    void tprMasksItsClassAndBelow() {
        t.fixed(0, 0x5f);
        a.writeMmio(0x80, 0x50);
        assertEquals(-1, a.nextInterrupt(true), "class 5 is not above TPR class 5");
        assertFalse(a.pending);
        t.fixed(0, 0x60);
        assertEquals(0x60, a.nextInterrupt(true));
        a.writeMmio(0x80, 0x4f);
        assertEquals(0x60, a.takeInterrupt(true));
        assertEquals(0x60L, a.readMmio(0xa0), "PPR: the in-service class, above TPR's");
        assertEquals(-1, a.nextInterrupt(true), "0x5f waits for the EOI of 0x60");
        a.writeMmio(0xb0, 0);
        assertEquals(0x4fL, a.readMmio(0xa0), "PPR back to TPR");
        assertEquals(0x5f, a.takeInterrupt(true));
    }

    @Test
    void sameClassDoesNotNestButAHigherOneDoes() {
        t.fixed(0, 0x40);
        assertEquals(0x40, a.takeInterrupt(true));
        t.fixed(0, 0x4f);
        assertEquals(-1, a.nextInterrupt(true), "same class as the one in service");
        t.fixed(0, 0x70);
        assertEquals(0x70, a.takeInterrupt(true), "a higher class nests");
        assertEquals(0x70L, a.readMmio(0xa0));
        a.writeMmio(0xb0, 0); // EOI ends 0x70, the highest in service
        assertTrue(a.bit('s', 0x40));
        assertFalse(a.bit('s', 0x70));
        assertEquals(-1, a.nextInterrupt(true), "0x40 still in service");
        a.writeMmio(0xb0, 0);
        assertFalse(a.bit('s', 0x40));
        assertEquals(0x4f, a.takeInterrupt(true));
    }

    @Test
    void eoiOfALevelTriggeredVectorReachesThePlatform() {
        t.vm.deliver(new ApicMessage(0, false, 0x61, DeliveryMode.FIXED, true));
        t.fixed(0, 0x30);
        assertEquals(0x61, a.takeInterrupt(true));
        assertEquals(-1, a.nextInterrupt(true));
        a.writeMmio(0xb0, 0);
        assertEquals(List.of(0x61), t.eois);
        assertEquals(0x30, a.takeInterrupt(true));
        a.writeMmio(0xb0, 0);
        assertEquals(List.of(0x61), t.eois, "an edge vector's EOI stays local");
        a.writeMmio(0xb0, 0);
        assertEquals(List.of(0x61), t.eois, "EOI with nothing in service does nothing");
    }

    @Test
    void levelThenEdgeOnTheSameVectorClearsTmr() {
        t.vm.deliver(new ApicMessage(0, false, 0x61, DeliveryMode.FIXED, true));
        assertTrue(a.bit('t', 0x61));
        t.fixed(0, 0x61);
        assertFalse(a.bit('t', 0x61));
    }

    @Test
    void extIntThroughLint0TakesThe8259sVector() {
        a.writeMmio(0x350, 0x10700); // the BSP's wire masked
        t.vm.setExtInt(true);
        assertFalse(a.pending, "LINT0 masked");
        a.writeMmio(0x350, 0x700); // ExtINT, unmasked
        assertTrue(a.pending);
        assertEquals(LocalApic.EXTINT, a.nextInterrupt(true));
        assertEquals(-1, a.nextInterrupt(false));
        t.fixed(0, 0xf0);
        assertEquals(LocalApic.EXTINT, a.nextInterrupt(true), "ExtINT bypasses the IRR's priority");
        assertEquals(0x30, a.takeInterrupt(true));
        assertEquals(1, t.inta);
        assertFalse(a.bit('s', 0x30), "not in service at the APIC: the 8259 has it");
        t.vm.setExtInt(false);
        assertEquals(0xf0, a.takeInterrupt(true));
        assertFalse(t.a1.pending, "vCPU 1's LINT0 is masked");
    }

    @Test
    void aDisabledBspApicPassesTheWireThrough() {
        assertTrue(a.writeMsr(LocalApic.MSR_APIC_BASE, 0xfee00100L));
        assertTrue(t.a1.writeMsr(LocalApic.MSR_APIC_BASE, 0xfee00000L));
        t.vm.setExtInt(true);
        assertEquals(LocalApic.EXTINT, a.nextInterrupt(true), "INTR goes straight to the CPU");
        assertEquals(-1, t.a1.nextInterrupt(true), "only the BSP takes the 8259's output");
    }

    @Test
    void nmiIgnoresInterruptFlagAndPriority() {
        a.writeMmio(0x80, 0xff);
        t.vm.deliver(new ApicMessage(0, false, 0, DeliveryMode.NMI, false));
        assertTrue(a.pending);
        assertEquals(-1, a.nextInterrupt(true));
        assertTrue(a.takeNmi());
        assertFalse(a.takeNmi());
        assertFalse(a.pending);
    }

    @Test
    void lint0AndLint1InNmiMode() {
        a.writeMmio(0x360, 0x400); // LINT1: NMI (Linux's virtual-wire set-up); nothing drives LINT1 yet
        a.writeMmio(0x350, 0x400);
        t.vm.setExtInt(true);
        assertEquals(-1, a.nextInterrupt(true), "LINT0 in NMI mode does not take the 8259's vector");
    }

    @Test
    void lowestPriorityGoesToTheLowestNumberedTarget() {
        t.vm.deliver(new ApicMessage(0xff, false, 0x44, DeliveryMode.LOWEST_PRIORITY, false));
        assertTrue(a.bit('i', 0x44));
        assertFalse(t.a1.bit('i', 0x44));
    }

    @Test
    void illegalVectorIsRefusedWithAnError() {
        t.fixed(0, 15);
        assertFalse(a.pending);
        a.writeMmio(0x280, 0);
        assertEquals(0x40L, a.readMmio(0x280));
        t.fixed(0, 16);
        assertEquals(16, a.nextInterrupt(true), "16-31 are accepted (reserved, not illegal)");
    }

    @Test
    void urgentIsWhatIgnoresTheInterruptFlag() {
        t.fixed(0, 0x40);
        assertTrue(a.pending);
        assertFalse(a.urgent, "a fixed vector waits for IF");
        t.vm.deliver(new ApicMessage(0, false, 0, DeliveryMode.NMI, false));
        assertTrue(a.urgent);
        assertTrue(a.takeNmi());
        assertFalse(a.urgent);
        t.vm.deliver(new ApicMessage(0, false, 0, DeliveryMode.INIT, false));
        assertTrue(a.urgent);
        assertTrue(a.takeInit());
        assertFalse(a.urgent || a.pending, "INIT dropped the fixed vector too");
    }

    @Test
    void theBspsPowerUpVirtualWireTakesThe8259WhileSoftwareDisabled() {
        VmApics vm = new VmApics(TestVm.TSC_HZ);
        LocalApic bsp = vm.create(0);
        LocalApic ap = vm.create(1);
        assertFalse(bsp.canTakeInterrupts(), "no 8259s connected (an engine test): nothing can come down the wire");
        vm.connect(t, t.clock);
        // A kernel that never touches the APIC (Linux with acpi=off and no MP table) halts with IF
        // set and waits for the PIT through the 8259: the vCPU must wait, not end.
        assertTrue(bsp.canTakeInterrupts(), "LINT0's ExtINT wire is open at power-up");
        assertFalse(ap.canTakeInterrupts(), "an AP's LVTs are masked at power-up");
        vm.setExtInt(true);
        assertTrue(bsp.pending);
        assertEquals(LocalApic.EXTINT, bsp.nextInterrupt(true));
        assertEquals(-1, ap.nextInterrupt(true));
        bsp.writeMmio(0xf0, 0xff); // a software-disable write masks every LVT, the wire too
        assertFalse(bsp.canTakeInterrupts());
        assertEquals(-1, bsp.nextInterrupt(true));
    }

    @Test
    void canTakeInterruptsOnlyWhenSomethingMaskableCanArrive() {
        assertTrue(a.canTakeInterrupts());
        a.writeMmio(0xf0, 0xff);
        assertFalse(a.canTakeInterrupts(), "software-disabled: fixed interrupts are dropped, LVTs masked");
        assertTrue(a.writeMsr(LocalApic.MSR_APIC_BASE, 0xfee00100L));
        assertTrue(a.canTakeInterrupts(), "the BSP's disabled APIC passes INTR through");
        assertTrue(t.a1.writeMsr(LocalApic.MSR_APIC_BASE, 0xfee00000L));
        assertFalse(t.a1.canTakeInterrupts(), "an AP's does not");
    }
}
