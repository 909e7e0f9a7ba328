package io.cloister.devices;

import java.util.Arrays;

/**
 * Non-overlapping address ranges to their owner, immutable: a change builds a new index, so a
 * vCPU dispatching an access never locks. Lookup is a binary search, O(log n).
 */
final class RangeIndex<T> {
    private final long[] starts;
    private final long[] ends;
    private final Object[] owners;

    @SuppressWarnings("rawtypes")
    static final RangeIndex EMPTY = new RangeIndex<>(new long[0], new long[0], new Object[0]);

    private RangeIndex(long[] starts, long[] ends, Object[] owners) {
        this.starts = starts;
        this.ends = ends;
        this.owners = owners;
    }

    @SuppressWarnings("unchecked")
    static <T> RangeIndex<T> empty() {
        return EMPTY;
    }

    /** The owner of the range containing {@code address}, or null. */
    @SuppressWarnings("unchecked")
    T find(long address) {
        int i = Arrays.binarySearch(starts, address);
        if (i < 0) {
            i = -i - 2;
        }
        return i >= 0 && address < ends[i] ? (T) owners[i] : null;
    }

    /** End of the range containing {@code address} (call after a successful find). */
    long endOf(long address) {
        int i = Arrays.binarySearch(starts, address);
        return ends[i < 0 ? -i - 2 : i];
    }

    /** The owner of a range overlapping {@code [start, end)}, or null. */
    @SuppressWarnings("unchecked")
    T overlapping(long start, long end) {
        for (int i = 0; i < starts.length; i++) {
            if (starts[i] < end && start < ends[i]) {
                return (T) owners[i];
            }
        }
        return null;
    }

    RangeIndex<T> with(long start, long end, T owner) {
        int at = Arrays.binarySearch(starts, start);
        at = at < 0 ? -at - 1 : at;
        int n = starts.length;
        long[] s = new long[n + 1];
        long[] e = new long[n + 1];
        Object[] o = new Object[n + 1];
        System.arraycopy(starts, 0, s, 0, at);
        System.arraycopy(ends, 0, e, 0, at);
        System.arraycopy(owners, 0, o, 0, at);
        s[at] = start;
        e[at] = end;
        o[at] = owner;
        System.arraycopy(starts, at, s, at + 1, n - at);
        System.arraycopy(ends, at, e, at + 1, n - at);
        System.arraycopy(owners, at, o, at + 1, n - at);
        return new RangeIndex<>(s, e, o);
    }

    RangeIndex<T> without(Object owner) {
        int keep = 0;
        for (Object o : owners) {
            keep += o == owner ? 0 : 1;
        }
        long[] s = new long[keep];
        long[] e = new long[keep];
        Object[] o = new Object[keep];
        for (int i = 0, k = 0; i < owners.length; i++) {
            if (owners[i] != owner) {
                s[k] = starts[i];
                e[k] = ends[i];
                o[k++] = owners[i];
            }
        }
        return new RangeIndex<>(s, e, o);
    }
}
