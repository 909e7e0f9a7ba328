package io.cloister.memory;

import static io.cloister.api.memory.Pages.SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.Access;
import io.cloister.api.memory.Backing;
import io.cloister.api.memory.GuestMemory;
import io.cloister.api.memory.GuestView;
import io.cloister.api.memory.MemSlot;
import io.cloister.api.memory.MemoryManager;
import io.cloister.api.memory.SlotKind;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.memory.SlotTable;
import io.cloister.api.restricted.Change;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.internal.hostmem.HostMemory;
import io.cloister.restrictedmem.RestrictedMemory;

class AddressSpaceTest {
    final MemoryManagerImpl manager = new MemoryManagerImpl();
    final RestrictedMemory restricted = new RestrictedMemory();
    final long mappingsBefore = HostMemory.liveMappings();
    final MemoryManager.Created created = manager.create("vm");
    final GuestMemory mem = created.memory();
    final GuestView guest = created.guestView();

    @AfterEach
    void closeAndCheckLeaks() {
        mem.close();
        assertEquals(0, manager.openSpaces());
        assertEquals(0, restricted.stats().bindings(), "bindings left after close");
    }

    static void assertErrno(Errno errno, Executable call) {
        CloisterException e = assertThrows(CloisterException.class, call);
        assertEquals(errno, e.errno(), e.getMessage());
    }

    static MemorySegment bytes(long n, int v) {
        MemorySegment s = Arena.ofAuto().allocate(n);
        s.fill((byte) v);
        return s;
    }

    @Test
    void overlappingAndUnalignedSlotsAreRefused() {
        MemSlot ram = mem.add(SlotSpec.ram(0, 16 * SIZE));
        CloisterException e = assertThrows(CloisterException.class, () -> mem.add(SlotSpec.ram(15 * SIZE, 2 * SIZE)));
        assertEquals(Errno.EEXIST, e.errno());
        assertTrue(e.getMessage().contains("slot " + ram.id()), e.getMessage());
        assertErrno(Errno.EINVAL, () -> mem.add(SlotSpec.ram(0x100001, SIZE)));
        assertErrno(Errno.EINVAL, () -> mem.add(SlotSpec.ram(0x100000, SIZE + 7)));
        assertErrno(Errno.EINVAL, () -> mem.add(SlotSpec.ram(0x100000, 0)));
        assertErrno(Errno.EINVAL, () -> mem.add(SlotSpec.ram(-SIZE, SIZE)));
        mem.add(SlotSpec.ram(16 * SIZE, SIZE)); // adjacent
        assertEquals(2, mem.table().slots().size());
    }

    @Test
    void lookupsOverThousandsOfSlotsMatchALinearScan() {
        List<SlotSpec> specs = new ArrayList<>();
        for (int i = 0; i < 5000; i++) {
            specs.add(SlotSpec.ram(i * 3 * SIZE, (1 + i % 2) * SIZE)); // gaps between slots
        }
        mem.addAll(specs);
        SlotTable t = mem.table();
        List<MemSlot> all = t.slots();
        Random r = new Random(7);
        for (int k = 0; k < 20000; k++) {
            long gpa = (long) (r.nextDouble() * 5001 * 3 * SIZE);
            MemSlot expect = null;
            for (MemSlot s : all) {
                if (s.contains(gpa)) {
                    expect = s;
                }
            }
            assertEquals(expect, t.slotAt(gpa), "gpa 0x" + Long.toHexString(gpa));
        }
    }

    @Test
    void aBatchIsAllOrNothing() {
        RestrictedFile f = restricted.create("vm", 8 * SIZE, PageState.PRIVATE);
        mem.add(SlotSpec.ram(0x100000, SIZE));
        long generation = mem.table().generation();
        long mappings = HostMemory.liveMappings();
        List<SlotSpec> batch = List.of(
                SlotSpec.ram(0, 4 * SIZE),
                new SlotSpec(0x200000, 8 * SIZE, SlotKind.RAM, false, new Backing.Restricted(f, 0)),
                SlotSpec.ram(0x100000, SIZE)); // overlaps
        assertErrno(Errno.EEXIST, () -> mem.addAll(batch));
        assertEquals(generation, mem.table().generation());
        assertEquals(1, mem.table().slots().size());
        assertEquals(mappings, HostMemory.liveMappings(), "the batch's mappings were released");
        assertEquals(0, f.stats().bindings(), "the batch's binding was released");
        f.close();
    }

    @Test
    void aliasSharesPagesAndPinsItsTarget() {
        MemSlot ram = mem.add(SlotSpec.ram(0, 0x100000));
        MemSlot smram = mem.add(new SlotSpec(0xfeda0000L, 0x20000, SlotKind.SMRAM_ALIAS, false, new Backing.AliasOf(ram.id(), 0xa0000)));
        mem.write(0xa0000 + 8, bytes(4, 0x42));
        MemorySegment got = bytes(4, 0);
        mem.read(0xfeda0000L + 8, got);
        assertEquals(0x42, got.get(ValueLayout.JAVA_BYTE, 3));
        assertErrno(Errno.EBUSY, () -> mem.remove(ram.id()));
        assertErrno(Errno.EINVAL, () -> mem.add(new SlotSpec(0xfee00000L, 0x20000, SlotKind.PAM_ALIAS, false,
                new Backing.AliasOf(ram.id(), 0xf0000))));
        assertErrno(Errno.ENOENT, () -> mem.add(new SlotSpec(0xfee00000L, SIZE, SlotKind.PAM_ALIAS, false, new Backing.AliasOf(99, 0))));
        mem.remove(smram.id());
        mem.remove(ram.id());
        assertErrno(Errno.ENOENT, () -> mem.remove(ram.id()));
    }

    /** The seed's TDX case through the memory manager: SMRAM bound to RAM's restricted pages. */
    @Test
    void restrictedSmramAliasIsEinvalAndChangesNothing() {
        RestrictedFile f = restricted.create("vm", 0x80000000L, PageState.PRIVATE);
        mem.add(new SlotSpec(0, 0x80000000L, SlotKind.RAM, false, new Backing.Restricted(f, 0)));
        long generation = mem.table().generation();
        CloisterException e = assertThrows(CloisterException.class, () -> mem.add(
                new SlotSpec(0xfeda0000L, 0x20000, SlotKind.SMRAM_ALIAS, false, new Backing.Restricted(f, 0xa0000))));
        assertEquals(Errno.EINVAL, e.errno());
        assertEquals(generation, mem.table().generation());
        assertEquals(1, mem.table().slots().size());
        mem.close();
        f.close(); // unbound by the close above
    }

    /** QEMU's workaround in the seed, made safe: an SMRAM alias of restricted RAM reaches shared pages only. */
    @Test
    void aliasOfRestrictedRamIsSharedOnly() {
        RestrictedFile f = restricted.create("vm", 0x100000, PageState.SHARED);
        MemSlot ram = mem.add(new SlotSpec(0, 0x100000, SlotKind.RAM, false, new Backing.Restricted(f, 0)));
        mem.add(new SlotSpec(0xfeda0000L, 0x20000, SlotKind.SMRAM_ALIAS, false, new Backing.AliasOf(ram.id(), 0xa0000)));
        assertEquals(1, f.stats().bindings(), "an alias is not a second binding");
        assertEquals(Access.OK, guest.write(0xa0000, bytes(8, 0x5c), PageState.SHARED));
        MemorySegment got = bytes(8, 0);
        assertEquals(Access.OK, guest.read(0xfeda0000L, got, PageState.SHARED));
        assertEquals(0x5c, got.get(ValueLayout.JAVA_BYTE, 0));
        f.convert(0xa0000, SIZE, PageState.PRIVATE, ContentRule.PRESERVE);
        assertEquals(Access.MEMORY_FAULT, guest.read(0xfeda0000L, got, PageState.SHARED), "private page not reachable through the alias");
        assertEquals(Access.MEMORY_FAULT, guest.read(0xfeda0000L, got, PageState.PRIVATE));
        assertErrno(Errno.EACCES, () -> mem.read(0xfeda0000L, bytes(8, 0)));
        mem.close();
        f.close();
    }

    @Test
    void overlapsInsideABatchAreRefused() {
        CloisterException e = assertThrows(CloisterException.class, () -> mem.addAll(List.of(
                SlotSpec.ram(0x10000, SIZE), SlotSpec.ram(0x40000, 4 * SIZE), SlotSpec.ram(0x42000, SIZE))));
        assertEquals(Errno.EEXIST, e.errno());
        assertTrue(e.getMessage().contains("[0x42000, 0x43000)") && e.getMessage().contains("[0x40000, 0x44000)"), e.getMessage());
        assertEquals(0, mem.table().slots().size());
    }

    @Test
    void privatePagesAreGuestOnly() {
        RestrictedFile f = restricted.create("vm", 4 * SIZE, PageState.PRIVATE);
        mem.add(new SlotSpec(0x10000, 4 * SIZE, SlotKind.RAM, false, new Backing.Restricted(f, 0)));
        assertEquals(Access.OK, guest.write(0x10000, bytes(64, 0x99), PageState.PRIVATE));
        assertEquals(Access.MEMORY_FAULT, guest.read(0x10000, bytes(64, 0), PageState.SHARED));
        MemorySegment host = bytes(64, 0);
        assertErrno(Errno.EACCES, () -> mem.read(0x10000, host));
        assertEquals(0, host.get(ValueLayout.JAVA_BYTE, 0), "no private byte reached the host");
        assertErrno(Errno.EACCES, () -> mem.write(0x10000, bytes(64, 1)));
        f.convert(0, SIZE, PageState.SHARED, ContentRule.PRESERVE);
        mem.read(0x10000, host);
        assertEquals((byte) 0x99, host.get(ValueLayout.JAVA_BYTE, 0));
        assertNull(guest.sharedSegment(mem.table().slotAt(0x10000).id()), "restricted slots have no host segment");
        mem.close();
        f.close();
    }

    @Test
    void conversionsReachTheEnginesListenerWithGuestAddresses() {
        RestrictedFile f = restricted.create("vm", 8 * SIZE, PageState.PRIVATE);
        mem.add(new SlotSpec(0x40000, 8 * SIZE, SlotKind.RAM, false, new Backing.Restricted(f, 0)));
        List<String> seen = new ArrayList<>();
        guest.addInvalidationListener((b, gpa, len, change) -> seen.add(Long.toHexString(gpa) + "+" + len / SIZE + " " + change));
        f.convert(2 * SIZE, 2 * SIZE, PageState.SHARED, ContentRule.DESTROY);
        f.punch(7 * SIZE, SIZE);
        assertEquals(List.of("42000+2 " + Change.TO_SHARED, "47000+1 " + Change.PUNCHED), seen);
        mem.close();
        f.close();
    }

    @Test
    void movingARestrictedSlotRebindsIt() {
        RestrictedFile f = restricted.create("vm", 4 * SIZE, PageState.SHARED);
        MemSlot s = mem.add(new SlotSpec(0x10000, 4 * SIZE, SlotKind.RAM, false, new Backing.Restricted(f, 0)));
        mem.add(SlotSpec.ram(0x100000, SIZE));
        guest.write(0x10000, bytes(8, 0x21), PageState.SHARED);
        assertErrno(Errno.EEXIST, () -> mem.move(s.id(), 0x100000 - SIZE));
        MemSlot moved = mem.move(s.id(), 0x80000);
        assertEquals(0x80000, moved.gpa());
        assertNull(mem.table().slotAt(0x10000));
        MemorySegment got = bytes(8, 0);
        assertEquals(Access.OK, guest.read(0x80000, got, PageState.SHARED));
        assertEquals(0x21, got.get(ValueLayout.JAVA_BYTE, 0));
        assertEquals(1, f.stats().bindings());
        mem.close();
        f.close();
    }

    @Test
    void guestAccessOutsideRamOrToRomIsMmio() {
        mem.add(SlotSpec.ram(0, 4 * SIZE));
        mem.add(new SlotSpec(0xfff00000L, SIZE, SlotKind.ROM, true, new Backing.Anonymous()));
        assertEquals(Access.MMIO, guest.read(0xfee00000L, bytes(4, 0), PageState.SHARED));
        assertEquals(Access.MMIO, guest.read(4 * SIZE - 2, bytes(4, 0), PageState.SHARED), "crosses the slot end");
        assertEquals(Access.MMIO, guest.write(0xfff00000L, bytes(4, 0), PageState.SHARED));
        assertEquals(Access.OK, guest.read(0xfff00000L, bytes(4, 0), PageState.SHARED));
        assertEquals(Access.MEMORY_FAULT, guest.read(0, bytes(4, 0), PageState.PRIVATE), "no private backing");
        mem.write(0xfff00000L, bytes(4, 1)); // the host (loader) may fill ROM
    }

    @Test
    void hostAccessSpansAdjacentSlotsOrFailsWhole() {
        mem.add(SlotSpec.ram(0, SIZE));
        mem.add(SlotSpec.ram(SIZE, SIZE));
        mem.write(SIZE - 4, bytes(8, 0x66));
        MemorySegment got = bytes(8, 0);
        mem.read(SIZE - 4, got);
        assertEquals(0x6666666666666666L, got.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
        assertErrno(Errno.EFAULT, () -> mem.write(2 * SIZE - 4, bytes(8, 0x77)));
        mem.read(2 * SIZE - 8, got);
        assertEquals(0, got.get(ValueLayout.JAVA_BYTE, 7), "refused write copied nothing");
    }

    @Test
    void severalGibibytesNeedNoHeap() {
        long heap = Runtime.getRuntime().maxMemory();
        long size = Math.max(8L << 30, (heap + (1L << 30)) & ~((1L << 30) - 1));
        mem.add(SlotSpec.ram(0, size));
        mem.write(size - 8, bytes(8, 3));
        assertEquals(size, mem.mappedBytes());
    }

    @Test
    void readersSeeWholeTablesDuringChanges() throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread reader = Thread.ofPlatform().start(() -> {
            long lastGen = -1;
            while (!stop.get()) {
                SlotTable t = mem.table();
                List<MemSlot> slots = t.slots();
                if (t.generation() < lastGen) {
                    failure.compareAndSet(null, new AssertionError("generation went back"));
                }
                lastGen = t.generation();
                // Slots only arrive in batches of two and then move: a torn view shows an odd count.
                if (slots.size() % 2 != 0) {
                    failure.compareAndSet(null, new AssertionError("torn table: " + slots.size() + " slots"));
                }
                for (int i = 1; i < slots.size(); i++) {
                    if (slots.get(i - 1).end() > slots.get(i).gpa()) {
                        failure.compareAndSet(null, new AssertionError("unsorted or overlapping table"));
                    }
                }
            }
        });
        for (int round = 0; round < 300; round++) {
            List<MemSlot> pair = mem.addAll(List.of(SlotSpec.ram(0, SIZE), SlotSpec.ram(SIZE, SIZE)));
            mem.move(pair.get(0).id(), 0x100000L + round * 2 * SIZE);
            mem.move(pair.get(1).id(), 0x100000L + (round * 2 + 1) * SIZE);
        }
        stop.set(true);
        reader.join();
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        assertEquals(600, mem.table().slots().size());
        assertEquals(300 * 3, mem.table().generation(), "one generation per change");
    }
}
