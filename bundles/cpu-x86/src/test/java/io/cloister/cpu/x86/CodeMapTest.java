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
        assertNull(pages.page(4L << 30 >>> 12), "beyond RAM");
        pages.clear();
        assertTrue(page != pages.page(12345));
    }

    /**
     * A write drops the entries whose bytes it touches, in their instruction or their compiled
     * block, and the trace link into a dropped entry; the rest stay, and the chunk bits returned
     * are those of what stays.
     */
    @Test
    void aDropTakesTheEntriesHoldingTheWrittenBytes() {
        CodePages pages = new CodePages(1 << 20);
        Insn[] page = pages.page(1);
        byte[] code = new byte[4096];
        Insn a = entry(page, code, 0x100, 0x89, 0xd8); // 100-101: mov eax, ebx
        Insn b = entry(page, code, 0x102, 0xb8, 0, 0, 0, 0); // 102-106: mov eax, 0
        Insn c = entry(page, code, 0x107, 0x90); // 107
        Insn d = entry(page, code, 0x200, 0x0f, 0x1f, 0x40, 0x00); // 200-203, alone in its chunk
        Insn e = entry(page, code, 0x300, 0x89, 0xd8); // 300-301, its block to 31f
        e.block = new Block() {
            @Override
            long run(X86Vcpu cpu, long[] r, long rip) {
                return rip;
            }
        };
        e.block.offsets = new int[] {0, 2, 0x20};
        a.op = new Ops.Nop(2);
        b.op = new Ops.Nop(5);
        c.op = new Ops.Nop(1);
        a.op.follow = b.op;
        b.op.follow = c.op;
        long all = CodeMap.bits(0x100, 8) | CodeMap.bits(0x200, 4) | CodeMap.bits(0x300, 0x20);
        assertEquals(all, pages.drop(1, 0x104, 0x105), "one byte of b");
        assertSame(a, page[0x100]);
        assertNull(page[0x102]);
        assertSame(c, page[0x107]);
        assertNull(a.op.follow, "a's trace no longer runs on into b's old op");
        assertEquals(all & ~CodeMap.bits(0x300, 0x20), pages.drop(1, 0x310, 0x311), "a byte of e's block");
        assertNull(page[0x300]);
        assertEquals(CodeMap.bits(0x100, 8), pages.drop(1, 0x1ff, 0x201), "d, and the byte before it");
        assertNull(page[0x200]);
        assertTrue(pages.dropped);
        pages.drop(1, 0x800, 0x1000);
        assertTrue(!pages.dropped, "nothing there");
        Insn far = entry(page, code, 0x900, 0x90);
        far.block = e.block;
        far.block.offsets = new int[] {0, 1, CodePages.MAX_COVER}; // a block of the greatest reach
        assertEquals(CodeMap.bits(0x100, 8), pages.drop(1, 0x900 + CodePages.MAX_COVER - 1, 0x900 + CodePages.MAX_COVER));
        assertNull(page[0x900], "its last byte written");
        assertSame(a, page[0x100]);
        assertSame(c, page[0x107]);
        assertEquals(0, pages.drop(2, 0, 4096), "a page never decoded");
    }

    private static Insn entry(Insn[] page, byte[] code, int off, int... bytes) {
        for (int i = 0; i < bytes.length; i++) {
            code[off + i] = (byte) bytes[i];
        }
        Insn in = Insn.decode(java.lang.foreign.MemorySegment.ofArray(code), off, true);
        assertEquals(bytes.length, in.len);
        page[off] = in;
        return in;
    }
}
