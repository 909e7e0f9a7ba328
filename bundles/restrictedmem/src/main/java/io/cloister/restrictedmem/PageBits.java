package io.cloister.restrictedmem;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * One bit per page with a count of set bits, sparse: the pages are cut into chunks of
 * {@value #CHUNK_PAGES}, and a chunk whose bits were never changed is a null reference standing for
 * "every bit is the initial value". A chunk gets its words (512 bytes) on its first change, so an
 * untouched GiB costs 16 references instead of 32 KiB, and a TiB guest that touches little costs
 * little. Chunks are never dropped again: the memory follows what the guest has touched.
 *
 * Bits may be changed concurrently (guest writes mark pages allocated under the file's read lock),
 * so updates are atomic per word, and a chunk is installed with one compare-and-set.
 */
final class PageBits {
    private static final int CHUNK_SHIFT = 12;
    static final long CHUNK_PAGES = 1L << CHUNK_SHIFT;
    private static final int WORDS = (int) (CHUNK_PAGES >>> 6);

    private final long pages;
    private final boolean initial;
    private final AtomicReferenceArray<AtomicLongArray> chunks;
    private final AtomicLong count = new AtomicLong();

    /** {@code pages} bits, all {@code initial}. */
    PageBits(long pages, boolean initial) {
        this.pages = pages;
        this.initial = initial;
        this.chunks = new AtomicReferenceArray<>(Math.toIntExact((pages + CHUNK_PAGES - 1) >>> CHUNK_SHIFT));
        count.set(initial ? pages : 0);
    }

    boolean get(long page) {
        AtomicLongArray c = chunks.get((int) (page >>> CHUNK_SHIFT));
        return c == null ? initial : (c.get(word(page)) & (1L << page)) != 0;
    }

    long count() {
        return count.get();
    }

    /** Sets bits {@code [from, to)}; returns how many were clear. */
    long set(long from, long to) {
        return change(from, to, true);
    }

    /** Clears bits {@code [from, to)}; returns how many were set. */
    long clear(long from, long to) {
        return change(from, to, false);
    }

    private long change(long from, long to, boolean set) {
        long changed = 0;
        for (long p = from; p < to; ) {
            long chunkEnd = Math.min(to, chunkEnd(p));
            int ci = (int) (p >>> CHUNK_SHIFT);
            if (set == initial && chunks.get(ci) == null) {
                p = chunkEnd; // untouched and already all `set`
                continue;
            }
            AtomicLongArray c = materialize(ci);
            for (; p < chunkEnd; ) {
                int w = word(p);
                long end = Math.min(chunkEnd, wordEnd(p));
                long mask = mask(p, end);
                long old;
                long flipped;
                do {
                    old = c.get(w);
                    flipped = (set ? ~old : old) & mask;
                    if (flipped == 0) {
                        break;
                    }
                } while (!c.compareAndSet(w, old, set ? old | mask : old & ~mask));
                changed += Long.bitCount(flipped);
                p = end;
            }
        }
        count.addAndGet(set ? changed : -changed);
        return changed;
    }

    /** The words of chunk {@code ci}, made (as all-initial) and installed if it has none yet. */
    private AtomicLongArray materialize(int ci) {
        AtomicLongArray c = chunks.get(ci);
        if (c != null) {
            return c;
        }
        AtomicLongArray fresh = new AtomicLongArray(WORDS);
        if (initial) {
            long first = (long) ci << CHUNK_SHIFT;
            long end = Math.min(pages, first + CHUNK_PAGES); // bits past the last page stay clear
            for (long p = first; p < end; p = wordEnd(p)) {
                fresh.setPlain(word(p), mask(p, Math.min(end, wordEnd(p))));
            }
        }
        // The compare-and-set publishes the filled words; a racing thread's chunk wins as well.
        return chunks.compareAndSet(ci, null, fresh) ? fresh : chunks.get(ci);
    }

    /** Number of set bits in {@code [from, to)}. */
    long count(long from, long to) {
        long n = 0;
        for (long p = from; p < to; ) {
            long chunkEnd = Math.min(to, chunkEnd(p));
            AtomicLongArray c = chunks.get((int) (p >>> CHUNK_SHIFT));
            if (c == null) {
                n += initial ? chunkEnd - p : 0;
                p = chunkEnd;
                continue;
            }
            for (; p < chunkEnd; ) {
                long end = Math.min(chunkEnd, wordEnd(p));
                n += Long.bitCount(c.get(word(p)) & mask(p, end));
                p = end;
            }
        }
        return n;
    }

    /** First set bit in {@code [from, to)}, or -1. */
    long firstSet(long from, long to) {
        for (long p = from; p < to; ) {
            long chunkEnd = Math.min(to, chunkEnd(p));
            AtomicLongArray c = chunks.get((int) (p >>> CHUNK_SHIFT));
            if (c == null) {
                if (initial) {
                    return p;
                }
                p = chunkEnd;
                continue;
            }
            for (; p < chunkEnd; ) {
                long end = Math.min(chunkEnd, wordEnd(p));
                long bits = c.get(word(p)) & mask(p, end);
                if (bits != 0) {
                    return (p & ~63L) + Long.numberOfTrailingZeros(bits);
                }
                p = end;
            }
        }
        return -1;
    }

    /** Chunks that hold words of their own (for tests of the memory cost). */
    long materializedChunks() {
        long n = 0;
        for (int i = 0; i < chunks.length(); i++) {
            n += chunks.get(i) != null ? 1 : 0;
        }
        return n;
    }

    private static int word(long page) {
        return (int) ((page >>> 6) & (WORDS - 1));
    }

    private static long wordEnd(long page) {
        return (page | 63) + 1;
    }

    private static long chunkEnd(long page) {
        return (page | (CHUNK_PAGES - 1)) + 1;
    }

    /** Mask of bits {@code [from, to)} within one word ({@code to} may be the next word's start). */
    private static long mask(long from, long to) {
        long hi = (to & 63) == 0 ? -1L : (1L << to) - 1;
        return hi & (-1L << from);
    }
}
