package io.cloister.backend.tdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.memory.Backing;
import io.cloister.api.memory.SlotKind;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

class TdxPolicyTest {
    final TdxPolicy tdx = new TdxPolicy();

    /** The seed's QEMU layout: SMRAM (slot 2) aliasing RAM is refused up front with a clear error. */
    @Test
    void smramAndPamAliasLayoutsAreRefused() {
        SlotSpec ram = SlotSpec.ram(0, 0x80000000L);
        CloisterException e = assertThrows(CloisterException.class, () -> tdx.validateLayout(List.of(ram,
                new SlotSpec(0xfeda0000L, 0x20000, SlotKind.SMRAM_ALIAS, false, new Backing.AliasOf(0, 0xa0000)))));
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("SMRAM_ALIAS slot at gpa 0xfeda0000") && e.getMessage().contains("incompatible with TDX"),
                e.getMessage());
        assertThrows(CloisterException.class, () -> tdx.validateLayout(List.of(ram,
                new SlotSpec(0xe0000, 0x10000, SlotKind.PAM_ALIAS, false, new Backing.AliasOf(0, 0xe0000)))));
        tdx.validateLayout(List.of(ram));
    }

    @Test
    void mapGpaUsesTheSharedBitAndPrivatePagesNeedAccept() {
        try (TestGuest g = new TestGuest("td", 1 << 20, tdx.initialState())) {
            tdx.adopt(g.view, g.layout);
            assertTrue(tdx.cpu(g.view).mayAccess(0x4000));
            g.guestWriteLong(0x4000, 7);
            assertEquals(0, tdx.handle(g.view, new GuestRequest.TdxMapGpa(0x4000 | TdxPolicy.SHARED_BIT, 0x2000)));
            assertEquals(PageState.SHARED, g.view.state(0x5000));
            assertEquals(0L, g.guestReadLong(0x4000), "content destroyed");
            assertTrue(tdx.cpu(g.view).mayAccess(0x4000 | TdxPolicy.SHARED_BIT));
            assertEquals(-22, tdx.handle(g.view, new GuestRequest.TdxAccept(0x4000)), "accept of a shared page");
            assertEquals(0, tdx.handle(g.view, new GuestRequest.TdxMapGpa(0x4000, 0x1000)));
            assertEquals(PageState.PRIVATE, g.view.state(0x4000));
            assertFalse(tdx.cpu(g.view).mayAccess(0x4000), "not accepted yet");
            assertEquals(0, tdx.handle(g.view, new GuestRequest.TdxAccept(0x4000)));
            assertTrue(tdx.cpu(g.view).mayAccess(0x4000));
            assertEquals(-17, tdx.handle(g.view, new GuestRequest.TdxAccept(0x4000)), "already accepted");
            assertEquals(-95, tdx.handle(g.view, new GuestRequest.SnpValidate(0x4000, true)));
        }
    }

    @Test
    void adoptionRefusesAliasLayouts() {
        try (TestGuest g = new TestGuest("td", 1 << 20, PageState.SHARED)) {
            List<SlotSpec> withSmram = List.of(g.layout.get(0),
                    new SlotSpec(0xfeda0000L, 0x20000, SlotKind.SMRAM_ALIAS, false, new Backing.AliasOf(0, 0xa0000)));
            assertThrows(CloisterException.class, () -> tdx.adopt(g.view, withSmram));
            assertFalse(tdx.cpu(g.view).mayAccess(0), "refused: nothing adopted");
        }
    }

    /**
     * Issue 12, item 1: the guest writes a secret into one private page the way the CPU engines do
     * (straight into the bound segment) and converts that one page to shared with MapGPA; a
     * device's DMA read of it must see zeros.
     */
    @Test
    void aOnePageConversionDestroysWhatTheEngineWrote() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, tdx.initialState())) {
            tdx.adopt(g.view, g.layout);
            MemorySegment ram = g.view.guestSegment(g.view.table().slotAt(0).id());
            ram.set(ValueLayout.JAVA_LONG, 0x5000 + 64, 0x5ec2e75ec2e7L);
            assertEquals(0, tdx.handle(g.view, new GuestRequest.TdxMapGpa(0x5000 | TdxPolicy.SHARED_BIT, 0x1000)));
            MemorySegment dma = Arena.ofAuto().allocate(4096);
            dma.fill((byte) 0x55);
            g.memory.read(0x5000, dma);
            assertArrayEquals(new byte[4096], dma.toArray(ValueLayout.JAVA_BYTE), "the secret survived the conversion");
        }
    }
}
