package io.cloister.restrictedmem;

import static io.cloister.api.memory.Pages.SIZE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.restricted.Binding;
import io.cloister.api.restricted.Change;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.InvalidationListener;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.api.restricted.RestrictedStats;
import io.cloister.internal.hostmem.HostMemory;

/**
 * Mirrors the kernel's selftests (tools/testing/selftests/kvm/guest_memfd_test.c and
 * set_memory_region_test.c): the same mistakes get the same errno.
 */
class GuestMemfdConformanceTest {
    final RestrictedMemory provider = new RestrictedMemory();
    final List<RestrictedFile> files = new ArrayList<>();
    final long mappingsBefore = HostMemory.liveMappings();

    record Event(Binding binding, long gpa, long length, Change change) {
    }

    final List<Event> events = new ArrayList<>();
    final InvalidationListener recorder = (b, gpa, len, change) -> events.add(new Event(b, gpa, len, change));

    RestrictedFile file(String vm, long size, PageState initial) {
        RestrictedFile f = provider.create(vm, size, initial);
        files.add(f);
        return f;
    }

    @AfterEach
    void noLeaks() {
        for (RestrictedFile f : files) {
            f.close(); // EBUSY if a test left a binding behind
        }
        assertEquals(new RestrictedStats(0, 0, 0, 0, 0, 0), provider.stats());
        assertEquals(mappingsBefore, HostMemory.liveMappings(), "host mappings leaked");
    }

    static void assertErrno(Errno errno, Executable call) {
        CloisterException e = assertThrows(CloisterException.class, call);
        assertEquals(errno, e.errno(), e.getMessage());
    }

    static MemorySegment bytes(long size, int value) {
        MemorySegment s = Arena.ofAuto().allocate(size);
        s.fill((byte) value);
        return s;
    }

    // guest_memfd_test.c: test_create_guest_memfd_invalid_sizes
    @Test
    void createRefusesBadSizes() {
        assertErrno(Errno.EINVAL, () -> provider.create("vm", 0, PageState.PRIVATE));
        assertErrno(Errno.EINVAL, () -> provider.create("vm", SIZE - 1, PageState.PRIVATE));
        assertErrno(Errno.EINVAL, () -> provider.create("vm", SIZE + 1, PageState.PRIVATE));
        assertErrno(Errno.EINVAL, () -> provider.create("vm", -SIZE, PageState.PRIVATE));
        assertErrno(Errno.EINVAL, () -> provider.create(" ", SIZE, PageState.PRIVATE));
        assertEquals(0, provider.stats().files());
    }

    @Test
    void createdFileHasInitialState() {
        RestrictedFile priv = file("vm", 8 * SIZE, PageState.PRIVATE);
        RestrictedFile shared = file("vm", 4 * SIZE, PageState.SHARED);
        assertEquals(PageState.PRIVATE, priv.state(3 * SIZE));
        assertEquals(PageState.SHARED, shared.state(0));
        assertEquals(new RestrictedStats(2, 0, 0, 8, 4, 0), provider.stats());
    }

    // set_memory_region_test.c: test_add_private_memory_region, invalid offsets and sizes
    @Test
    void bindRefusesUnalignedAndPastTheEnd() {
        RestrictedFile f = file("vm", 16 * SIZE, PageState.PRIVATE);
        assertErrno(Errno.EINVAL, () -> f.bind("vm", 0, 1, 0, SIZE, null));
        assertErrno(Errno.EINVAL, () -> f.bind("vm", 0, 0, 0, SIZE + 1, null));
        assertErrno(Errno.EINVAL, () -> f.bind("vm", 0, 0, 0x123, SIZE, null));
        assertErrno(Errno.EINVAL, () -> f.bind("vm", 0, 0, 0, 0, null));
        assertErrno(Errno.EINVAL, () -> f.bind("vm", 0, 15 * SIZE, 0, 2 * SIZE, null));
        assertErrno(Errno.EINVAL, () -> f.bind("vm", 0, 16 * SIZE, 0, SIZE, null));
        assertErrno(Errno.EINVAL, () -> f.bind("vm", 0, -SIZE, 0, SIZE, null));
        assertErrno(Errno.EINVAL, () -> f.bind("vm", 0, Long.MAX_VALUE & ~(SIZE - 1), 0, SIZE, null));
        assertEquals(0, provider.stats().bindings());
        f.bind("vm", 0, 15 * SIZE, 0, SIZE, null).unbind();
    }

    // set_memory_region_test.c: test_add_overlapping_private_memory_regions
    @Test
    void doubleBindingAndPartialOverlapAreEinval() {
        RestrictedFile f = file("vm", 32 * SIZE, PageState.PRIVATE);
        Binding a = f.bind("vm", 10, 0, 0x100000, 8 * SIZE, null);
        CloisterException same = assertThrows(CloisterException.class, () -> f.bind("vm", 11, 0, 0x200000, 8 * SIZE, null));
        assertEquals(Errno.EINVAL, same.errno());
        assertTrue(same.getMessage().contains("slot 10") && same.getMessage().contains("slot 11"), same.getMessage());
        assertErrno(Errno.EINVAL, () -> f.bind("vm", 12, 4 * SIZE, 0x300000, 8 * SIZE, null));
        assertErrno(Errno.EINVAL, () -> f.bind("vm", 13, 7 * SIZE, 0x300000, SIZE, null));
        Binding b = f.bind("vm", 14, 8 * SIZE, 0x400000, 8 * SIZE, null); // adjacent is fine
        assertEquals(2, provider.stats().bindings());
        a.unbind();
        b.unbind();
    }

    /** The seed's QEMU/TDX case: SMRAM (slot 2) aliases part of RAM (slot 0), same file: ret=-22. */
    @Test
    void smramAliasOfMainRamIsEinval() {
        RestrictedFile ram = file("tdx", 0x80000000L, PageState.PRIVATE);
        Binding slot0 = ram.bind("tdx", 0, 0, 0x0, 0x80000000L, null);
        CloisterException e = assertThrows(CloisterException.class,
                () -> ram.bind("tdx", 2, 0xa0000, 0xfeda0000L, 0x20000, null));
        assertEquals(Errno.EINVAL, e.errno());
        assertEquals(22, e.errno().code());
        assertTrue(e.getMessage().contains("slot 0 at gpa 0x0") && e.getMessage().contains("slot 2 at gpa 0xfeda0000"),
                e.getMessage());
        slot0.unbind();
    }

    @Test
    void anotherVmCannotBind() {
        RestrictedFile f = file("vm-a", 4 * SIZE, PageState.PRIVATE);
        CloisterException e = assertThrows(CloisterException.class, () -> f.bind("vm-b", 0, 0, 0, SIZE, null));
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("vm-a") && e.getMessage().contains("vm-b"));
    }

    @Test
    void unbindThenRebindElsewhere() {
        RestrictedFile f = file("vm", 4 * SIZE, PageState.SHARED);
        Binding b = f.bind("vm", 0, 0, 0x10000, 4 * SIZE, null);
        b.guest().write(0x10000, bytes(8, 0x5a), PageState.SHARED);
        b.unbind();
        assertErrno(Errno.EINVAL, b::unbind);
        assertErrno(Errno.EBADF, () -> b.guest().read(0x10000, bytes(8, 0), PageState.SHARED));
        Binding again = f.bind("vm", 1, 0, 0x90000, 4 * SIZE, null);
        MemorySegment got = bytes(8, 0);
        assertTrue(again.guest().read(0x90000, got, PageState.SHARED));
        assertEquals(0x5a, got.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0), "content survives unbind/rebind");
        again.unbind();
    }

    // guest_memfd_test.c: test_fallocate (punch) then access
    @Test
    void punchFreesAndReadsBackZero() {
        RestrictedFile f = file("vm", 8 * SIZE, PageState.SHARED);
        f.hostWrite(0, bytes(8 * SIZE, 0x11));
        assertEquals(8, f.stats().allocatedPages());
        f.punch(2 * SIZE, 3 * SIZE);
        RestrictedStats s = f.stats();
        assertEquals(5, s.allocatedPages());
        assertEquals(3, s.punchedPages());
        MemorySegment got = bytes(8 * SIZE, 0xff);
        f.hostRead(0, got);
        for (long i = 0; i < 8 * SIZE; i += 512) {
            byte expect = (i >= 2 * SIZE && i < 5 * SIZE) ? 0 : (byte) 0x11;
            assertEquals(expect, got.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i), "offset " + i);
        }
        f.hostWrite(3 * SIZE, bytes(SIZE, 0x22)); // touching a punched page allocates it again
        assertEquals(2, f.stats().punchedPages());
        assertEquals(6, f.stats().allocatedPages());
        assertErrno(Errno.EINVAL, () -> f.punch(SIZE / 2, SIZE));
        f.punch(7 * SIZE, 2 * SIZE); // past the end is clamped, as the kernel does (see GuestMemfdDifferentialTest)
        assertEquals(3, f.stats().punchedPages(), "pages 2, 4 and 7");
        f.punch(20 * SIZE, SIZE); // wholly beyond the end: nothing to do
        assertEquals(3, f.stats().punchedPages());
    }

    @Test
    void punchAndConversionNotifyExactlyTheCoveringBindings() {
        RestrictedFile f = file("vm", 64 * SIZE, PageState.PRIVATE);
        Binding a = f.bind("vm", 0, 0, 0x100000, 8 * SIZE, recorder);
        Binding b = f.bind("vm", 1, 8 * SIZE, 0x800000, 8 * SIZE, recorder);
        Binding c = f.bind("vm", 2, 32 * SIZE, 0x2000000, 8 * SIZE, recorder);
        f.convert(6 * SIZE, 4 * SIZE, PageState.SHARED, ContentRule.DESTROY);
        assertEquals(List.of(new Event(a, 0x100000 + 6 * SIZE, 2 * SIZE, Change.TO_SHARED),
                new Event(b, 0x800000, 2 * SIZE, Change.TO_SHARED)), events);
        events.clear();
        f.punch(20 * SIZE, 4 * SIZE); // no binding there
        assertEquals(List.of(), events);
        f.punch(33 * SIZE, SIZE);
        assertEquals(List.of(new Event(c, 0x2000000 + SIZE, SIZE, Change.PUNCHED)), events);
        a.unbind();
        b.unbind();
        c.unbind();
    }

    @Test
    void contentRulesPreserveOrDestroy() {
        RestrictedFile f = file("vm", 64 * SIZE, PageState.SHARED);
        Binding b = f.bind("vm", 0, 0, 0, 64 * SIZE, null);
        f.hostWrite(0, bytes(64 * SIZE, 0x77));
        MemorySegment page = bytes(SIZE, 0);

        f.convert(0, SIZE, PageState.PRIVATE, ContentRule.PRESERVE);
        assertTrue(b.guest().read(0, page, PageState.PRIVATE));
        assertEquals(0x77, page.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 100), "pKVM-style: kept in place");

        f.convert(SIZE, SIZE, PageState.PRIVATE, ContentRule.DESTROY);
        assertTrue(b.guest().read(SIZE, page, PageState.PRIVATE));
        assertArrayEquals(new byte[(int) SIZE], page.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), "TDX-style: destroyed");

        f.convert(16 * SIZE, 32 * SIZE, PageState.PRIVATE, ContentRule.DESTROY); // large: freed, not zero-filled
        assertEquals(64 - 32, f.stats().allocatedPages());
        assertTrue(b.guest().read(20 * SIZE, page, PageState.PRIVATE));
        assertArrayEquals(new byte[(int) SIZE], page.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        b.unbind();
    }

    @Test
    void hostCannotTouchPrivatePages() {
        RestrictedFile f = file("vm", 4 * SIZE, PageState.SHARED);
        f.hostWrite(0, bytes(4 * SIZE, 0x33));
        f.convert(2 * SIZE, SIZE, PageState.PRIVATE, ContentRule.PRESERVE);
        MemorySegment dst = bytes(4 * SIZE, 0x44);
        CloisterException e = assertThrows(CloisterException.class, () -> f.hostRead(0, dst));
        assertEquals(Errno.EACCES, e.errno());
        assertTrue(e.getMessage().contains("0x2000"), e.getMessage());
        assertEquals(0x44, dst.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 2 * SIZE + 5), "nothing copied");
        assertErrno(Errno.EACCES, () -> f.hostWrite(SIZE, bytes(2 * SIZE, 0x55)));
        MemorySegment one = bytes(SIZE, 0);
        f.hostRead(SIZE, one);
        assertEquals(0x33, one.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 7), "refused write changed nothing");
        assertErrno(Errno.EACCES, () -> f.hostRead(2 * SIZE + 100, bytes(1, 0)));
    }

    @Test
    void guestAccessWithTheWrongStateIsAFault() {
        RestrictedFile f = file("vm", 4 * SIZE, PageState.PRIVATE);
        Binding b = f.bind("vm", 0, 0, 0x4000, 4 * SIZE, null);
        assertFalse(b.guest().write(0x4000, bytes(16, 1), PageState.SHARED));
        assertTrue(b.guest().write(0x4000, bytes(16, 1), PageState.PRIVATE));
        f.convert(SIZE, SIZE, PageState.SHARED, ContentRule.DESTROY);
        assertFalse(b.guest().read(0x4000 + SIZE - 8, bytes(16, 0), PageState.PRIVATE), "spans private and shared");
        assertFalse(b.guest().read(0x4000 + SIZE - 8, bytes(16, 0), PageState.SHARED), "spans private and shared");
        assertErrno(Errno.EFAULT, () -> b.guest().read(0x4000 + 4 * SIZE - 8, bytes(16, 0), PageState.PRIVATE));
        assertErrno(Errno.EFAULT, () -> b.guest().read(0x3000, bytes(16, 0), PageState.PRIVATE));
        b.unbind();
    }

    @Test
    void failingListenerChangesNothing() {
        RestrictedFile f = file("vm", 4 * SIZE, PageState.PRIVATE);
        Binding ok = f.bind("vm", 0, 0, 0, 2 * SIZE, recorder);
        Binding bad = f.bind("vm", 1, 2 * SIZE, 0x10000, 2 * SIZE, (b, g, l, c) -> {
            throw new IllegalStateException("engine busy");
        });
        assertErrno(Errno.EBUSY, () -> f.convert(0, 4 * SIZE, PageState.SHARED, ContentRule.DESTROY));
        assertEquals(4, f.privatePages(0, 4 * SIZE));
        ok.unbind();
        bad.unbind();
    }

    // guest_memfd_test.c closes the fd while bound; Cloister refuses instead of keeping it alive unseen.
    @Test
    void closingWhileBoundIsRefusedThenAllowed() {
        RestrictedFile f = provider.create("vm", 4 * SIZE, PageState.PRIVATE);
        Binding b = f.bind("vm", 7, 0, 0, 4 * SIZE, null);
        CloisterException e = assertThrows(CloisterException.class, f::close);
        assertEquals(Errno.EBUSY, e.errno());
        assertTrue(e.getMessage().contains("slot 7"), e.getMessage());
        assertEquals(1, provider.stats().files());
        b.unbind();
        f.close();
        f.close(); // idempotent
        assertErrno(Errno.EBADF, () -> f.bind("vm", 0, 0, 0, SIZE, null));
        assertErrno(Errno.EBADF, () -> f.convert(0, SIZE, PageState.SHARED, ContentRule.DESTROY));
        assertErrno(Errno.EBADF, () -> f.punch(0, SIZE));
        assertErrno(Errno.EBADF, () -> f.hostRead(0, bytes(8, 0)));
        assertErrno(Errno.EBADF, () -> f.state(0));
    }
}
