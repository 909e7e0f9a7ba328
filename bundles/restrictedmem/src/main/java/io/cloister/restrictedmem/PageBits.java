package io.cloister.restrictedmem;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * One bit per page with a count of set bits. Bits may be set concurrently (guest writes mark pages
 * allocated under the file's read lock), so updates are atomic per word.
 */
final class PageBits {
    private final AtomicLongArray words;
    private final java.util.concurrent.atomic.AtomicLong count = new java.util.concurrent.atomic.AtomicLong();

    PageBits(long pages) {
        words = new AtomicLongArray((int) ((pages + 63) >>> 6));
    }

    boolean get(long page) {
        return (words.get((int) (page >>> 6)) & (1L << page)) != 0;
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
            int w = (int) (p >>> 6);
            long end = Math.min(to, ((long) w + 1) << 6);
            long mask = mask(p, end);
            long old;
            long flipped;
            do {
                old = words.get(w);
                flipped = (set ? ~old : old) & mask;
                if (flipped == 0) {
                    break;
                }
            } while (!words.compareAndSet(w, old, set ? old | mask : old & ~mask));
            changed += Long.bitCount(flipped);
            p = end;
        }
        count.addAndGet(set ? changed : -changed);
        return changed;
    }

    /** Number of set bits in {@code [from, to)}. */
    long count(long from, long to) {
        long n = 0;
        for (long p = from; p < to; ) {
            int w = (int) (p >>> 6);
            long end = Math.min(to, ((long) w + 1) << 6);
            n += Long.bitCount(words.get(w) & mask(p, end));
            p = end;
        }
        return n;
    }

    /** First set bit in {@code [from, to)}, or -1. */
    long firstSet(long from, long to) {
        for (long p = from; p < to; ) {
            int w = (int) (p >>> 6);
            long end = Math.min(to, ((long) w + 1) << 6);
            long bits = words.get(w) & mask(p, end);
            if (bits != 0) {
                return ((long) w << 6) + Long.numberOfTrailingZeros(bits);
            }
            p = end;
        }
        return -1;
    }

    /** Mask of bits {@code [from, to)} within one word ({@code to} may be the next word's start). */
    private static long mask(long from, long to) {
        long hi = (to & 63) == 0 ? -1L : (1L << to) - 1;
        return hi & (-1L << from);
    }
}
