package io.cloister.backend.snp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.GuestRequest;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

class SnpPolicyTest {
    final SnpPolicy snp = new SnpPolicy();

    @Test
    void pagesMadePrivateMustBeValidatedBeforeUse() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, snp.initialState())) {
            snp.adopt(g.view, g.layout);
            assertTrue(snp.cpu(g.view).mayAccess(0x9000), "private at adoption: in use, so validated");
            g.guestWriteLong(0x9000, 42);
            assertEquals(0, snp.handle(g.view, new GuestRequest.SnpPageStateChange(0x9000, 1, false)));
            assertEquals(PageState.SHARED, g.view.state(0x9000));
            assertEquals(0L, g.guestReadLong(0x9000), "content destroyed");
            assertTrue(snp.cpu(g.view).mayAccess(0x9000), "shared pages need no validation");
            assertEquals(-22, snp.handle(g.view, new GuestRequest.SnpValidate(0x9000, true)), "PVALIDATE of a shared page");
            assertEquals(0, snp.handle(g.view, new GuestRequest.MapGpaRange(0x9000, 1, GuestRequest.MapGpaRange.ATTR_ENCRYPTED)));
            assertFalse(snp.cpu(g.view).mayAccess(0x9000), "private again but not validated: the access faults");
            assertEquals(0, snp.handle(g.view, new GuestRequest.SnpValidate(0x9000, true)));
            assertTrue(snp.cpu(g.view).mayAccess(0x9000));
            assertEquals(0, snp.handle(g.view, new GuestRequest.SnpValidate(0x9000, false)));
            assertFalse(snp.cpu(g.view).mayAccess(0x9000));
        }
    }

    @Test
    void requestsBeforeAdoptionAndForeignRequestsFail() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, snp.initialState())) {
            assertEquals(-22, snp.handle(g.view, new GuestRequest.SnpPageStateChange(0x9000, 1, false)));
            assertFalse(snp.cpu(g.view).mayAccess(0x9000));
            snp.adopt(g.view, g.layout);
            assertEquals(-95, snp.handle(g.view, new GuestRequest.PkvmShare(0x9000, 1)));
            assertEquals(-14, snp.handle(g.view, new GuestRequest.SnpPageStateChange(0x100000, 1, false)));
            snp.release("vm");
            assertFalse(snp.cpu(g.view).mayAccess(0x9000), "released: no RMP");
        }
    }

    /**
     * Issue 12, item 1: the guest writes a secret into one private page the way the CPU engines do
     * (straight into the bound segment) and converts that one page to shared with a page-state change;
     * a device's DMA read of it must see zeros.
     */
    @Test
    void aOnePageConversionDestroysWhatTheEngineWrote() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, snp.initialState())) {
            snp.adopt(g.view, g.layout);
            MemorySegment ram = g.view.guestSegment(g.view.table().slotAt(0).id());
            ram.set(ValueLayout.JAVA_LONG, 0x5000 + 64, 0x5ec2e75ec2e7L);
            assertEquals(0, snp.handle(g.view, new GuestRequest.SnpPageStateChange(0x5000, 1, false)));
            MemorySegment dma = Arena.ofAuto().allocate(4096);
            dma.fill((byte) 0x55);
            g.memory.read(0x5000, dma);
            assertArrayEquals(new byte[4096], dma.toArray(ValueLayout.JAVA_BYTE), "the secret survived the conversion");
        }
    }
}
