package io.cloister.backend.sev;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Random;
import java.util.Set;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.GuestRequest;
import io.cloister.api.backend.HostAccess;
import io.cloister.api.memory.Access;
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

    /**
     * Issue 12, item 2: the host reads a page, the guest writes a secret there, the host reads it
     * again. Under a keystream (AES-CTR keyed by the address) the XOR of the two reads is the
     * secret; under XEX it is noise.
     */
    @Test
    void theXorOfTwoReadsAroundAGuestWriteRevealsNothing() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, sev.initialState())) {
            sev.adopt(g.view, g.layout);
            byte[] before = read(g, 0x7000, 4096); // a fresh page: the attacker knows it holds zeros
            byte[] secret = new byte[4096];
            new Random(12).nextBytes(secret);
            guestWrite(g, 0x7000, secret);
            byte[] after = read(g, 0x7000, 4096);
            int sameBytes = 0;
            int sameBlocks = 0;
            for (int b = 0; b < 4096; b += 16) {
                int same = 0;
                for (int i = b; i < b + 16; i++) {
                    same += (byte) (before[i] ^ after[i]) == secret[i] ? 1 : 0;
                }
                sameBytes += same;
                sameBlocks += same == 16 ? 1 : 0;
            }
            assertEquals(0, sameBlocks, "16-byte blocks of the secret recovered by XOR");
            assertTrue(sameBytes < 64, sameBytes + " of 4096 bytes recovered (about 16 match by chance)");
        }
    }

    @Test
    void equalPlaintextAtTheSameAddressGivesEqualCiphertext() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, sev.initialState())) {
            sev.adopt(g.view, g.layout);
            byte[] x = new byte[4096];
            byte[] y = new byte[4096];
            new Random(1).nextBytes(x);
            new Random(2).nextBytes(y);
            guestWrite(g, 0x7000, x);
            byte[] cx = read(g, 0x7000, 4096);
            guestWrite(g, 0x7000, y);
            byte[] cy = read(g, 0x7000, 4096);
            guestWrite(g, 0x7000, x);
            assertArrayEquals(cx, read(g, 0x7000, 4096), "the same plaintext back at the same address");
            for (int b = 0; b < 4096; b += 16) {
                assertFalse(Arrays.equals(cx, b, b + 16, cy, b, b + 16), "block 0x" + Integer.toHexString(b));
            }
        }
    }

    /** Every 16-byte block is tweaked by its own address: equal plaintext blocks anywhere give distinct ciphertext. */
    @Test
    void theSamePlaintextAtTwoAddressesDiffers() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, sev.initialState())) {
            sev.adopt(g.view, g.layout);
            byte[] plain = new byte[8192];
            Arrays.fill(plain, (byte) 0x41);
            guestWrite(g, 0x7000, plain);
            byte[] c = read(g, 0x7000, 8192);
            Set<String> blocks = new HashSet<>();
            for (int b = 0; b < c.length; b += 16) {
                blocks.add(HexFormat.of().formatHex(c, b, b + 16));
            }
            assertEquals(512, blocks.size(), "equal plaintext blocks at different addresses must not encrypt alike");
            byte[] across = read(g, 0x7ffd, 40); // unaligned and across the page boundary
            assertArrayEquals(Arrays.copyOfRange(c, 0xffd, 0xffd + 40), across, "a byte encrypts the same wherever a read starts");
        }
    }

    /** Diffusion: a one-bit change changes its whole 16-byte block, and nothing else. */
    @Test
    void aOneBitChangeChangesTheWholeBlock() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, sev.initialState())) {
            sev.adopt(g.view, g.layout);
            byte[] plain = new byte[4096];
            new Random(3).nextBytes(plain);
            guestWrite(g, 0x7000, plain);
            byte[] c1 = read(g, 0x7000, 4096);
            plain[0x123] ^= 1 << 5;
            guestWrite(g, 0x7000, plain);
            byte[] c2 = read(g, 0x7000, 4096);
            assertArrayEquals(Arrays.copyOfRange(c1, 0, 0x120), Arrays.copyOfRange(c2, 0, 0x120));
            assertArrayEquals(Arrays.copyOfRange(c1, 0x130, 4096), Arrays.copyOfRange(c2, 0x130, 4096));
            int changed = 0;
            for (int i = 0x120; i < 0x130; i++) {
                changed += c1[i] != c2[i] ? 1 : 0;
            }
            assertTrue(changed >= 12, "only " + changed + " of the block's 16 bytes changed (about 16 expected)");
        }
    }

    private static void guestWrite(TestGuest g, long gpa, byte[] bytes) {
        assertEquals(Access.OK, g.view.write(gpa, MemorySegment.ofArray(bytes), PageState.PRIVATE));
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
