package io.cloister.memory;

import static io.cloister.api.memory.Pages.SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import io.cloister.api.memory.Access;
import io.cloister.api.memory.Backing;
import io.cloister.api.memory.GuestMemory;
import io.cloister.api.memory.GuestView;
import io.cloister.api.memory.MemoryManager;
import io.cloister.api.memory.SlotKind;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.restrictedmem.RestrictedMemory;

/**
 * Issue 12, item 9: configured but untouched guest memory must cost next to nothing. A 1 TiB
 * private guest (restricted file, binding, address space) used to cost over 1 GiB of Java heap:
 * three bitmaps of 32 KiB per GiB, and an owner table with a 2 KiB leaf per bound 2 MiB. Now the
 * cost follows what the guest touches, not what it is given.
 */
class LargeGuestCostTest {
    static final long TIB = 1L << 40;
    /** Far more than the structures need (well under 1 MiB), far less than the old 1 GiB. */
    static final long HEAP_BOUND = 16L << 20;
    /** Resident memory: what the JVM itself may add meanwhile, still far below any eager per-GiB cost. */
    static final long RSS_BOUND = 64L << 20;

    @Test
    void aTebibyteGuestCostsLittleHeapAndNoResidentMemory() throws IOException {
        Path overcommit = Path.of("/proc/sys/vm/overcommit_memory");
        Assumptions.assumeFalse(Files.isReadable(overcommit) && Files.readString(overcommit).trim().equals("2"),
                "vm.overcommit_memory=2 (strict) refuses any mapping beyond RAM + swap, NORESERVE or not");
        long heapBefore = usedHeapAfterGc();
        long rssBefore = rss();
        RestrictedMemory provider = new RestrictedMemory();
        RestrictedFile ram = provider.create("big", TIB, PageState.PRIVATE);
        MemoryManager.Created created = new MemoryManagerImpl().create("big");
        GuestMemory memory = created.memory();
        GuestView view = created.guestView();
        try {
            memory.add(new SlotSpec(0, TIB, SlotKind.RAM, false, new Backing.Restricted(ram, 0)));
            long heap = usedHeapAfterGc() - heapBefore;
            long resident = rss() - rssBefore;
            assertTrue(heap < HEAP_BOUND, "a 1 TiB guest costs " + (heap >> 10) + " KiB of heap");
            assertTrue(resident < RSS_BOUND, "a 1 TiB guest costs " + (resident >> 10) + " KiB of resident memory");

            // It works at both ends, and a conversion there costs no more than anywhere else.
            MemorySegment word = Arena.ofAuto().allocate(8);
            word.set(ValueLayout.JAVA_LONG, 0, 42);
            assertEquals(Access.OK, view.write(TIB - 8, word, PageState.PRIVATE));
            assertEquals(Access.OK, view.write(0, word, PageState.PRIVATE));
            view.convert(TIB - SIZE, SIZE, PageState.SHARED, ContentRule.PRESERVE);
            MemorySegment back = Arena.ofAuto().allocate(8);
            memory.read(TIB - 8, back);
            assertEquals(42, back.get(ValueLayout.JAVA_LONG, 0));
            assertEquals(TIB / SIZE - 1, view.privatePages());
            assertEquals(PageState.PRIVATE, view.state(TIB - 2 * SIZE));
            long touched = usedHeapAfterGc() - heapBefore;
            assertTrue(touched < HEAP_BOUND, "after touching both ends: " + (touched >> 10) + " KiB of heap");
        } finally {
            memory.close();
            ram.close();
        }
    }

    private static long usedHeapAfterGc() {
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) { // the least of a few full collections: garbage does not count
            System.gc();
            used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
        }
        return used;
    }

    /** This process's resident set, from /proc (Linux, which the VMM needs anyway). */
    private static long rss() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) << 10;
            }
        }
        throw new IOException("no VmRSS in /proc/self/status");
    }
}
