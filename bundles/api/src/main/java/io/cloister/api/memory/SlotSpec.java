package io.cloister.api.memory;

import java.util.Objects;

/** A memslot to be created: where it appears in guest-physical space and what backs it. */
public record SlotSpec(long gpa, long size, SlotKind kind, boolean readOnly, Backing backing) {
    public SlotSpec {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(backing, "backing");
    }

    public static SlotSpec ram(long gpa, long size) {
        return new SlotSpec(gpa, size, SlotKind.RAM, false, new Backing.Anonymous());
    }

    public long end() {
        return gpa + size;
    }
}
