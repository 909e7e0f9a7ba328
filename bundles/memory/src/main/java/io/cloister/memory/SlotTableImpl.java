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
