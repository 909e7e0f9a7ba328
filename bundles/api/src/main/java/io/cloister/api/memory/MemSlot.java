package io.cloister.api.memory;

/** A memslot as published in a {@link SlotTable}: immutable, identified by {@code id}. */
public record MemSlot(int id, long gpa, long size, SlotKind kind, boolean readOnly, Backing backing) {
    public long end() {
        return gpa + size;
    }

    public boolean contains(long address) {
        return address >= gpa && address - gpa < size;
    }
}
