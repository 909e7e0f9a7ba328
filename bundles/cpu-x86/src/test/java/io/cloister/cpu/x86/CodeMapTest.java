package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;

import org.junit.jupiter.api.Test;

/**
 * The engine's per-VM and per-vCPU tables of decoded code cost heap only where code runs: a VM
 * configured with 1 TiB of RAM (issue 12 item 9: 2000 GiB was an OutOfMemoryError) must cost
 * little before its guest runs anything, and a page's bits work as before once code is decoded.
 */
class CodeMapTest {
    static final long TIB = 1L << 40;

    /** Bytes this thread allocated while running {@code r} (counted by the JVM, no GC involved). */
    static long allocated(Runnable r) {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        r.run();
        return threads.getCurrentThreadAllocatedBytes() - before;
    }

    @Test
    void aTebibyteOfRamCostsLittleUntilCodeRuns() {
        Object[] keep = new Object[2];
        long bytes = allocated(() -> {
            keep[0] = new CodeMap(TIB);
            keep[1] = new CodePages(TIB);
        });
        // 2 MiB regions: one reference each per table, 4 or 8 bytes: at most 8 MiB for both; the old
        // eager tables took 2 GiB (one long per page) plus 1 GiB per vCPU.
        assertTrue(bytes < 16L << 20, bytes + " bytes for 1 TiB of RAM");
        assertTrue(bytes / 1024 <= 64 * 1024, "at most 64 KiB per GiB: " + bytes / 1024 + " KiB per TiB");
        assertNotNull(keep[0]);
    }

    @Test
    void bitsAreKeptPerRegionOnFirstUse() {
        CodeMap map = new CodeMap(TIB);
        long pfn = (TIB >>> 12) - 1; // the last page
        assertEquals(0, map.bitsPlain(pfn));
        long before = allocated(() -> map.mark(pfn, CodeMap.bits(0x40, 2)));
        assertTrue(before >= CodeMap.REGION_PAGES * 8L, "the region was allocated: " + before);
        assertEquals(2, map.bitsPlain(pfn));
        assertEquals(2, map.bits(pfn));
        map.mark(pfn, CodeMap.bits(0xfc0, 64));
        assertEquals(2 | 1L << 63, map.bits(pfn));
        assertEquals(0, map.bits(pfn - 1), "other pages of the region have no bits");
        assertEquals(0, map.bits(TIB >>> 12), "beyond RAM: nothing");
        map.clearPlain(pfn);
        assertEquals(0, map.bits(pfn));
        assertEquals(TIB, map.coveredBytes());
    }

    @Test
    void pagesOfDecodedCodeAreMadeOnFirstUse() {
        CodePages pages = new CodePages(4L << 30);
        Insn[] page = pages.page(12345);
        assertEquals(4096, page.length);
        assertSame(page, pages.page(12345));
        pages.drop(12345);
        assertTrue(page != pages.page(12345), "dropped: a fresh page");
        assertNull(pages.page(4L << 30 >>> 12), "beyond RAM");
        pages.clear();
        assertTrue(page != pages.page(12345));
    }
}
