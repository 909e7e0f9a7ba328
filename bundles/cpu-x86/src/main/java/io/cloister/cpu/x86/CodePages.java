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

    /** Drops the page's entries: they are decoded again when run. */
    void drop(long pfn) {
        long ri = pfn >>> CodeMap.REGION_SHIFT;
        if (ri < regions.length && regions[(int) ri] != null) {
            regions[(int) ri][(int) pfn & (CodeMap.REGION_PAGES - 1)] = null;
        }
    }

    /** Drops every entry. */
    void clear() {
        java.util.Arrays.fill(regions, null);
    }
}
