package io.cloister.backend.sev;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.GuestRequest;
import io.cloister.api.backend.HostAccess;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

class SevPolicyTest {
    final SevPolicy sev = new SevPolicy();

    @Test
    void guestMapsPagesSharedAndContentIsReencrypted() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, sev.initialState())) {
            sev.adopt(g.view, g.layout);
            assertEquals(256, g.view.privatePages());
            g.guestWriteLong(0x5000, 0x1122334455667788L);
            assertEquals(0, sev.handle(g.view, new GuestRequest.MapGpaRange(0x5000, 1, 0)));
            assertEquals(PageState.SHARED, g.view.state(0x5000));
            assertEquals(0L, g.guestReadLong(0x5000), "destroyed by the conversion");
            assertEquals(0, sev.handle(g.view, new GuestRequest.MapGpaRange(0x5000, 1, GuestRequest.MapGpaRange.ATTR_ENCRYPTED)));
            assertEquals(256, g.view.privatePages());
        }
    }

    @Test
    void badRequestsGetErrnosAndChangeNothing() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, sev.initialState())) {
            sev.adopt(g.view, g.layout);
            assertEquals(-22, sev.handle(g.view, new GuestRequest.MapGpaRange(0x5001, 1, 0)), "unaligned");
            assertEquals(-22, sev.handle(g.view, new GuestRequest.MapGpaRange(0x5000, 0, 0)), "no pages");
            assertEquals(-22, sev.handle(g.view, new GuestRequest.MapGpaRange(0x5000, 1, 1 << 2)), "unknown attribute");
            assertEquals(-14, sev.handle(g.view, new GuestRequest.MapGpaRange(0x100000, 1, 0)), "outside guest memory");
            assertEquals(-14, sev.handle(g.view, new GuestRequest.MapGpaRange(0xff000, 2, 0)), "runs past guest memory");
            assertEquals(-95, sev.handle(g.view, new GuestRequest.TdxAccept(0x5000)), "not a SEV request");
            assertEquals(256, g.view.privatePages());
        }
    }

    @Test
    void theHostSeesOnlyCiphertext() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, sev.initialState())) {
            sev.adopt(g.view, g.layout);
            assertEquals(HostAccess.CIPHERTEXT, sev.hostAccess());
            for (long gpa : new long[] {0x7000, 0x8000}) {
                for (int i = 0; i < 512; i++) {
                    g.guestWriteLong(gpa + i * 8L, 0x4141414141414141L); // the same plaintext in both pages
                }
            }
            byte[] a = read(g, 0x7000, 4096);
            byte[] b = read(g, 0x8000, 4096);
            byte[] plain = new byte[4096];
            Arrays.fill(plain, (byte) 0x41);
            assertFalse(Arrays.equals(plain, a), "plaintext leaked");
            assertFalse(Arrays.equals(a, b), "the page address must tweak the ciphertext");
            assertArrayEquals(a, read(g, 0x7000, 4096), "same key, same ciphertext");
            assertArrayEquals(Arrays.copyOfRange(a, 100, 164), read(g, 0x7000 + 100, 64), "a byte encrypts the same wherever a read starts");
            int same = 0;
            for (byte x : a) {
                same += x == 0x41 ? 1 : 0;
            }
            assertEquals(true, same < 64, same + " plaintext bytes survived");
        }
    }

    private byte[] read(TestGuest g, long gpa, int n) {
        MemorySegment dst = Arena.ofAuto().allocate(n);
        sev.hostReadPrivate(g.view, gpa, dst);
        return dst.toArray(ValueLayout.JAVA_BYTE);
    }

    /**
     * Issue 12, item 1: the guest writes a secret into one private page the way the CPU engines do
     * (straight into the bound segment) and converts that one page to shared with MAP_GPA_RANGE; a
     * device's DMA read of it must see zeros.
     */
    @Test
    void aOnePageConversionDestroysWhatTheEngineWrote() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, sev.initialState())) {
            sev.adopt(g.view, g.layout);
            MemorySegment ram = g.view.guestSegment(g.view.table().slotAt(0).id());
            ram.set(ValueLayout.JAVA_LONG, 0x5000 + 64, 0x5ec2e75ec2e7L);
            assertEquals(0, sev.handle(g.view, new GuestRequest.MapGpaRange(0x5000, 1, 0)));
            MemorySegment dma = Arena.ofAuto().allocate(4096);
            dma.fill((byte) 0x55);
            g.memory.read(0x5000, dma);
            assertArrayEquals(new byte[4096], dma.toArray(ValueLayout.JAVA_BYTE), "the secret survived the conversion");
        }
    }
}
