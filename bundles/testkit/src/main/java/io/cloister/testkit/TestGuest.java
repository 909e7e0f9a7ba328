package io.cloister.testkit;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import io.cloister.api.memory.Access;
import io.cloister.api.memory.Backing;
import io.cloister.api.memory.GuestMemory;
import io.cloister.api.memory.GuestView;
import io.cloister.api.memory.MemoryManager;
import io.cloister.api.memory.SlotKind;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.memory.MemoryManagerImpl;
import io.cloister.restrictedmem.RestrictedMemory;

/** A VM's memory for tests: one restricted RAM slot at gpa 0 over real memory and restrictedmem. */
public final class TestGuest implements AutoCloseable {
    public final RestrictedMemory provider = new RestrictedMemory();
    public final RestrictedFile ram;
    public final GuestMemory memory;
    public final GuestView view;
    public final List<SlotSpec> layout;

    public TestGuest(String vm, long bytes, PageState initial) {
        ram = provider.create(vm, bytes, initial);
        MemoryManager.Created created = new MemoryManagerImpl().create(vm);
        memory = created.memory();
        view = created.guestView();
        layout = List.of(new SlotSpec(0, bytes, SlotKind.RAM, false, new Backing.Restricted(ram, 0)));
        memory.addAll(layout);
    }

    /** Writes {@code value} at {@code gpa} as the guest would, with the page's current state. */
    public Access guestWriteLong(long gpa, long value) {
        MemorySegment s = Arena.ofAuto().allocate(8);
        s.set(ValueLayout.JAVA_LONG, 0, value);
        return view.write(gpa, s, view.state(gpa));
    }

    /** Reads as the guest would, with the page's current state; null on a fault. */
    public Long guestReadLong(long gpa) {
        MemorySegment s = Arena.ofAuto().allocate(8);
        return view.read(gpa, s, view.state(gpa)) == Access.OK ? s.get(ValueLayout.JAVA_LONG, 0) : null;
    }

    @Override
    public void close() {
        memory.close();
        ram.close();
    }
}
