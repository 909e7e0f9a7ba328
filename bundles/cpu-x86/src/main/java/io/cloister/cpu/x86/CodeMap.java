package io.cloister.cpu.x86;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import io.cloister.api.memory.GuestView;
import io.cloister.api.memory.MemSlot;

/**
 * What the vCPUs of one VM share about decoded code: one bit per 64 bytes of RAM that some vCPU
 * has decoded, and an epoch counting writes into such bytes. The writer drops its own entries at
 * once; the others drop theirs when they next serialize (CPUID, or the start of a run slice), which
 * is what x86 requires of cross-modifying code (SDM vol. 3, 9.1.3).
 *
 * The bits are kept per 2 MiB region of RAM, allocated when code is first decoded there: RAM that
 * never holds code costs one reference per region (2 KiB per GiB), so a VM's configured size does
 * not cost heap up front.
 */
final class CodeMap {
    /** log2 of the pages in a region. */
    static final int REGION_SHIFT = 9;
    static final int REGION_PAGES = 1 << REGION_SHIFT;
    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle REGION = MethodHandles.arrayElementVarHandle(long[][].class);

    /** Per region, one word of chunk bits per page; null until code is decoded in the region. */
    final long[][] regions;
    final AtomicLong epoch = new AtomicLong();
    final AtomicInteger vcpus = new AtomicInteger();
    /** The VM's own domain of compiled blocks (BlockCache.PER_VM): a token, so that the cache keeps no map alive. */
    final Object blockDomain = new Object();

    CodeMap(long ramBytes) {
        regions = new long[regionCount(ramBytes)][];
    }

    static CodeMap forView(GuestView view) {
        MemSlot ram = view.table().slotAt(0);
        return new CodeMap(ram == null ? 0 : ram.size());
    }

    /** The bytes of RAM the regions cover. */
    long coveredBytes() {
        return (long) regions.length << (REGION_SHIFT + 12);
    }

    /** The regions covering {@code ramBytes}; beyond what an array holds the rest never caches code. */
    static int regionCount(long ramBytes) {
        long pages = (ramBytes + 4095) >>> 12;
        return (int) Math.min((pages + REGION_PAGES - 1) >>> REGION_SHIFT, Integer.MAX_VALUE - 8);
    }

    /** The chunk bits of page {@code pfn} as last seen by this thread (0 for a region without code). */
    long bitsPlain(long pfn) {
        long ri = pfn >>> REGION_SHIFT;
        if (ri >= regions.length) {
            return 0;
        }
        long[] region = regions[(int) ri];
        return region == null ? 0 : region[(int) pfn & (REGION_PAGES - 1)];
    }

    /** The chunk bits of page {@code pfn}, with every vCPU's marks so far. */
    long bits(long pfn) {
        long ri = pfn >>> REGION_SHIFT;
        if (ri >= regions.length) {
            return 0;
        }
        long[] region = (long[]) REGION.getVolatile(regions, (int) ri);
        return region == null ? 0 : (long) WORD.getVolatile(region, (int) pfn & (REGION_PAGES - 1));
    }

    /** Marks chunks of page {@code pfn} as decoded; the page lies in RAM. */
    void mark(long pfn, long bits) {
        int ri = (int) (pfn >>> REGION_SHIFT);
        long[] region = regions[ri];
        if (region == null) {
            long[] fresh = new long[REGION_PAGES];
            region = (long[]) REGION.compareAndExchange(regions, ri, (long[]) null, fresh);
            if (region == null) {
                region = fresh;
            }
        }
        int i = (int) pfn & (REGION_PAGES - 1);
        if ((region[i] & bits) != bits) {
            WORD.getAndBitwiseOr(region, i, bits);
        }
    }

    /** Forgets the marks of page {@code pfn}: its only holder dropped its entries. */
    void clearPlain(long pfn) {
        long[] region = regions[(int) (pfn >>> REGION_SHIFT)];
        if (region != null) {
            region[(int) pfn & (REGION_PAGES - 1)] = 0;
        }
    }

    /** The bits of the 64-byte chunks that [pa, pa + length) touches; the range lies within one page. */
    static long bits(long pa, long length) {
        int first = (int) ((pa & 0xfff) >>> 6);
        int last = (int) (((pa + length - 1) & 0xfff) >>> 6);
        return (-1L >>> (63 - last)) & (-1L << first);
    }
}
