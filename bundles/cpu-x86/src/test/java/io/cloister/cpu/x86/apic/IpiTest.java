package io.cloister.cpu.x86.apic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import io.cloister.api.irq.ApicMessage;
import io.cloister.api.irq.DeliveryMode;

/** IPIs through the ICR between the APICs of one VM (SDM 11.6), and logical destinations (11.6.2.2). */
class IpiTest {
    final TestVm t = new TestVm();
    final LocalApic a0 = t.a0, a1 = t.a1;

    /** Writes the xAPIC ICR: destination byte then the low word, which sends. */
    static void icr(LocalApic from, int dest, int low) {
        from.writeMmio(0x310, (long) dest << 24);
        from.writeMmio(0x300, low & 0xffffffffL);
    }

    @Test
    void fixedPhysical() {
        icr(a0, 1, 0x4031);
        assertTrue(a1.bit('i', 0x31));
        assertFalse(a1.bit('t', 0x31), "IPIs are edge-triggered whatever the trigger bit says");
        assertFalse(a0.pending);
        assertEquals(0x31, a1.takeInterrupt(true));
    }

    @Test
    void fixedToAnAbsentIdGoesNowhere() {
        icr(a0, 9, 0x4031);
        assertFalse(a0.pending);
        assertFalse(a1.pending);
    }

    @Test
    void nmi() {
        icr(a0, 1, 0x4400);
        assertTrue(a1.takeNmi());
    }

    @Test
    void initThenStartup() {
        a1.writeMmio(0x80, 0x20);
        t.fixed(1, 0x40);
        icr(a0, 1, 0x4500); // INIT assert
        icr(a0, 1, 0x8500); // INIT level de-assert: not an INIT
        assertTrue(a1.pending);
        assertTrue(a1.takeInit());
        assertFalse(a1.takeInit(), "one INIT");
        assertTrue(a1.waitingForStartup());
        assertEquals(0L, a1.readMmio(0x80), "INIT resets the APIC's registers...");
        assertEquals(1L << 24, a1.readMmio(0x20), "...but its ID");
        assertFalse(a1.bit('i', 0x40), "and drops what was pending");
        icr(a0, 1, 0x4600 | 0x9a); // STARTUP vector 0x9a
        icr(a0, 1, 0x4600 | 0x9b); // a second SIPI while the first is latched is ignored
        assertTrue(a1.pending);
        assertEquals(0x9a, a1.takeStartup() & 0xff);
        assertFalse(a1.waitingForStartup());
        icr(a0, 1, 0x4600 | 0x9c);
        assertEquals(-1, a1.takeStartup(), "a running CPU ignores SIPIs");
    }

    /**
     * Linux under a hypervisor sends the SIPI right after the INIT (no 10 ms delay): the SIPI must
     * start the AP even when its vCPU takes the INIT only afterwards; a SIPI before the INIT is void.
     */
    @Test
    void aStartupSentBeforeTheVcpuTookTheInitStillStartsIt() {
        a1.waitForStartup();
        icr(a0, 1, 0x4600 | 0x11); // before the INIT: void once the INIT comes
        icr(a0, 1, 0x4500); // INIT assert
        icr(a0, 1, 0x8500); // de-assert
        icr(a0, 1, 0x4600 | 0x9a); // STARTUP, the vCPU still busy
        assertTrue(a1.takeInit());
        assertEquals(0x9a, a1.takeStartup(), "the SIPI latched after the INIT survives the vCPU's taking of it");
    }

    @Test
    void inWaitForSipiOnlyInitAndSipiCount() {
        a1.waitForStartup();
        t.fixed(1, 0x40); // the APIC is software-disabled after INIT in reality; here it is not, yet nothing is taken
        icr(a0, 1, 0x4400);
        assertFalse(a1.pending);
        assertEquals(-1, a1.nextInterrupt(true));
        assertFalse(a1.takeNmi());
        icr(a0, 1, 0x4608);
        assertTrue(a1.pending);
        assertEquals(8, a1.takeStartup());
    }

    @Test
    void shorthands() {
        icr(a0, 0, 0x44040); // self
        assertTrue(a0.bit('i', 0x40));
        assertFalse(a1.bit('i', 0x40));
        icr(a0, 0, 0x84041); // all including self
        assertTrue(a0.bit('i', 0x41));
        assertTrue(a1.bit('i', 0x41));
        icr(a0, 0, 0xc4042); // all excluding self
        assertFalse(a0.bit('i', 0x42));
        assertTrue(a1.bit('i', 0x42));
    }

    @Test
    void physicalBroadcast() {
        icr(a1, 0xff, 0x4043);
        assertTrue(a0.bit('i', 0x43));
        assertTrue(a1.bit('i', 0x43));
    }

    @Test
    void logicalFlat() {
        a0.writeMmio(0xd0, 0x01000000L);
        a1.writeMmio(0xd0, 0x02000000L);
        icr(a0, 0x02, 0x4850); // logical, bit 1
        assertFalse(a0.bit('i', 0x50));
        assertTrue(a1.bit('i', 0x50));
        icr(a0, 0x03, 0x4851);
        assertTrue(a0.bit('i', 0x51));
        assertTrue(a1.bit('i', 0x51));
        icr(a0, 0x04, 0x4852);
        assertFalse(a0.pending && a0.bit('i', 0x52) || a1.bit('i', 0x52));
    }

    @Test
    void logicalCluster() {
        for (LocalApic a : new LocalApic[] {a0, a1}) {
            a.writeMmio(0xe0, 0x0fffffffL);
        }
        a0.writeMmio(0xd0, 0x11000000L); // cluster 1, member bit 0
        a1.writeMmio(0xd0, 0x22000000L); // cluster 2, member bit 1
        icr(a0, 0x12, 0x4860); // cluster 1, bit 1: nobody
        assertFalse(a0.bit('i', 0x60) || a1.bit('i', 0x60));
        icr(a0, 0x22, 0x4861);
        assertTrue(a1.bit('i', 0x61));
        assertFalse(a0.bit('i', 0x61));
        icr(a0, 0xf3, 0x4862); // every cluster, bits 0 and 1
        assertTrue(a0.bit('i', 0x62) && a1.bit('i', 0x62));
    }

    @Test
    void ioApicLogicalMessage() {
        a0.writeMmio(0xd0, 0x01000000L);
        a1.writeMmio(0xd0, 0x02000000L);
        t.vm.deliver(new ApicMessage(0x02, true, 0x70, DeliveryMode.FIXED, true));
        assertTrue(a1.bit('i', 0x70) && a1.bit('t', 0x70));
        assertFalse(a0.bit('i', 0x70));
    }

    @Test
    void sendingAnIllegalVectorIsASendError() {
        icr(a0, 1, 0x4005);
        assertFalse(a1.pending);
        a0.writeMmio(0x280, 0);
        assertEquals(0x20L, a0.readMmio(0x280), "bit 5: send illegal vector");
    }

    @Test
    void ipisCrossingBetweenTwoThreadsDoNotDeadlock() throws Exception {
        Thread other = Thread.ofPlatform().start(() -> {
            for (int i = 0; i < 20_000; i++) {
                icr(a1, 0, 0x4040);
                a1.takeInterrupt(true);
                a1.writeMmio(0xb0, 0);
            }
        });
        for (int i = 0; i < 20_000; i++) {
            icr(a0, 1, 0x4041);
            a0.takeInterrupt(true);
            a0.writeMmio(0xb0, 0);
        }
        other.join(30_000);
        assertFalse(other.isAlive(), "the other vCPU thread finished");
    }
}
