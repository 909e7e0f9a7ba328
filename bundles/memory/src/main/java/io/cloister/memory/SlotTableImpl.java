package io.cloister.memory;

import java.util.Arrays;
import java.util.List;

import io.cloister.api.memory.MemSlot;
import io.cloister.api.memory.SlotTable;

/**
 * An immutable, sorted snapshot of an address space's slots. A change builds a new table and
 * publishes it with one volatile write, so readers never see a half-made change.
 */
final class SlotTableImpl implements SlotTable {
    static final SlotTableImpl EMPTY = new SlotTableImpl(0, new SlotEntry[0]);

    final long generation;
    /** Sorted by gpa; non-overlapping. */
    final SlotEntry[] entries;
    private final long[] starts;

    SlotTableImpl(long generation, SlotEntry[] sortedEntries) {
        this.generation = generation;
        this.entries = sortedEntries;
        this.starts = new long[sortedEntries.length];
        for (int i = 0; i < sortedEntries.length; i++) {
            starts[i] = sortedEntries[i].slot().gpa();
        }
    }

    private SlotTableImpl(long generation, SlotEntry[] sortedEntries, long[] starts) {
        this.generation = generation;
        this.entries = sortedEntries;
        this.starts = starts;
    }

    /** A new table with {@code added} (sorted by gpa, overlapping nothing) merged in: O(n + k). */
    SlotTableImpl with(List<SlotEntry> added) {
        if (added.size() == 1) {
            return with(added.get(0));
        }
        SlotEntry[] merged = new SlotEntry[entries.length + added.size()];
        int i = 0, j = 0, k = 0;
        while (i < entries.length || j < added.size()) {
            if (j == added.size() || (i < entries.length && entries[i].slot().gpa() < added.get(j).slot().gpa())) {
                merged[k++] = entries[i++];
            } else {
                merged[k++] = added.get(j++);
            }
        }
        return new SlotTableImpl(generation + 1, merged);
    }

    /** One slot in: two array copies around its place, no per-entry work. */
    private SlotTableImpl with(SlotEntry e) {
        int at = Arrays.binarySearch(starts, e.slot().gpa());
        at = at < 0 ? -at - 1 : at;
        int n = entries.length;
        SlotEntry[] es = new SlotEntry[n + 1];
        long[] ss = new long[n + 1];
        System.arraycopy(entries, 0, es, 0, at);
        System.arraycopy(starts, 0, ss, 0, at);
        es[at] = e;
        ss[at] = e.slot().gpa();
        System.arraycopy(entries, at, es, at + 1, n - at);
        System.arraycopy(starts, at, ss, at + 1, n - at);
        return new SlotTableImpl(generation + 1, es, ss);
    }

    /** A new table without {@code removed} and, if not null, with {@code replacement} in its place. */
    SlotTableImpl without(SlotEntry removed, SlotEntry replacement) {
        List<SlotEntry> rest = new java.util.ArrayList<>(entries.length);
        for (SlotEntry e : entries) {
            if (e != removed) {
                rest.add(e);
            }
        }
        SlotTableImpl t = new SlotTableImpl(generation, rest.toArray(SlotEntry[]::new));
        return replacement == null ? new SlotTableImpl(generation + 1, t.entries) : t.with(List.of(replacement));
    }

    @Override
    public long generation() {
        return generation;
    }

    /** The entry containing {@code gpa}, or null: binary search, O(log n). */
    SlotEntry entryAt(long gpa) {
        int i = Arrays.binarySearch(starts, gpa);
        if (i < 0) {
            i = -i - 2; // the last slot starting below gpa
        }
        if (i < 0) {
            return null;
        }
        SlotEntry e = entries[i];
        return e.slot().contains(gpa) ? e : null;
    }

    SlotEntry entry(int slotId) {
        for (SlotEntry e : entries) {
            if (e.slot().id() == slotId) {
                return e;
            }
        }
        return null;
    }

    @Override
    public MemSlot slotAt(long gpa) {
        SlotEntry e = entryAt(gpa);
        return e == null ? null : e.slot();
    }

    @Override
    public List<MemSlot> slots() {
        return Arrays.stream(entries).map(SlotEntry::slot).toList();
    }

    /** The first entry overlapping {@code [gpa, end)} other than {@code exceptId}, or null. */
    SlotEntry firstOverlap(long gpa, long end, int exceptId) {
        int i = Arrays.binarySearch(starts, gpa);
        int from = i >= 0 ? i : Math.max(0, -i - 2);
        for (int k = from; k < entries.length && entries[k].slot().gpa() < end; k++) {
            SlotEntry e = entries[k];
            if (e.slot().id() != exceptId && e.slot().end() > gpa) {
                return e;
            }
        }
        return null;
    }
}
