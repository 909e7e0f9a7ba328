package io.cloister.cpu.x86;

/**
 * One vCPU's decoded instructions per physical RAM page (an array of 4096 offsets each), kept in
 * 2 MiB regions allocated on first use like {@link CodeMap}'s bits: RAM that never runs code costs
 * one reference per region.
 */
final class CodePages {
    private final Insn[][][] regions;

    CodePages(long ramBytes) {
        regions = new Insn[CodeMap.regionCount(ramBytes)][][];
    }

    /** The page's decoded entries, created empty on first use; null beyond the regions. */
    Insn[] page(long pfn) {
        long ri = pfn >>> CodeMap.REGION_SHIFT;
        if (ri >= regions.length) {
            return null;
        }
        Insn[][] region = regions[(int) ri];
        if (region == null) {
            region = new Insn[CodeMap.REGION_PAGES][];
            regions[(int) ri] = region;
        }
        int i = (int) pfn & (CodeMap.REGION_PAGES - 1);
        Insn[] page = region[i];
        if (page == null) {
            page = new Insn[4096];
            region[i] = page;
        }
        return page;
    }

    /**
     * Drops the page's entries whose bytes, or whose compiled block's, overlap bytes [from, to) of
     * the page, and cuts the trace links into them (an op's {@link Ops.Op#follow} is the op of the
     * entry right after it); returns the 64-byte chunk bits ({@link CodeMap#bits}) of the entries and
     * blocks that stay. A write into one instruction of a page thus leaves the rest decoded, warm
     * and compiled: the kernel's boot patches its text a few bytes at a time (alternatives, return
     * thunks, static calls) while running code in the same pages, and dropping whole pages cost a
     * third of the boot's compiled blocks. {@link #dropped} tells whether any entry went; the bits
     * returned count only when one did.
     */
    long drop(long pfn, int from, int to) {
        dropped = false;
        long ri = pfn >>> CodeMap.REGION_SHIFT;
        Insn[][] region = ri < regions.length ? regions[(int) ri] : null;
        Insn[] page = region == null ? null : region[(int) pfn & (CodeMap.REGION_PAGES - 1)];
        if (page == null) {
            dropped = true; // nothing decoded here any more: the chunk bits can go
            return 0;
        }
        // Only entries starting at most MAX_COVER bytes before the write can reach it: the scan
        // stays short when a guest writes data beside its code again and again.
        for (int o = Math.max(0, from - MAX_COVER); o < to; o++) {
            Insn in = page[o];
            if (in != null && o + covered(in) > from) {
                page[o] = null;
                dropped = true;
            }
        }
        if (!dropped) {
            return 0; // nothing changed: the chunk bits stand as they are
        }
        long bits = 0;
        for (int o = 0; o < 4096; o++) {
            Insn in = page[o];
            if (in == null) {
                continue;
            }
            Ops.Op op = in.op;
            if (op != null && op.follow != null) {
                int n = o + in.len;
                if (n >= 4096 || page[n] == null || page[n].op != op.follow) {
                    op.follow = null;
                }
            }
            int len = covered(in);
            if (len > 0) {
                bits |= CodeMap.bits(o, len);
            }
        }
        return bits;
    }

    /**
     * Whether the last {@link #drop} dropped an entry (or found the page empty); when it did not,
     * as for a write beside code in the same chunks, its result is not the page's bits.
     */
    boolean dropped;

    /** The most bytes an entry covers: a compiled block of the most instructions, each of the longest (15 bytes). */
    static final int MAX_COVER = Region.MAX_SPAN;

    /** The bytes an entry stands for: its instruction's, or its compiled block's if longer. */
    private static int covered(Insn in) {
        Block b = in.block;
        return b == null ? in.len : Math.max(in.len, b.length());
    }

    /** Drops every entry. */
    void clear() {
        java.util.Arrays.fill(regions, null);
    }
}
