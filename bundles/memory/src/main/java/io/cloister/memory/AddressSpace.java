package io.cloister.memory;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.Access;
import io.cloister.api.memory.Backing;
import io.cloister.api.memory.GuestMemory;
import io.cloister.api.memory.GuestView;
import io.cloister.api.memory.MemSlot;
import io.cloister.api.memory.Pages;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.memory.SlotTable;
import io.cloister.api.restricted.Binding;
import io.cloister.api.restricted.Change;
import io.cloister.api.restricted.InvalidationListener;
import io.cloister.api.restricted.PageState;
import io.cloister.internal.hostmem.HostMemory;

/**
 * One VM's guest-physical address space.
 *
 * Writers (add, remove, move, close) are serialised by this object's monitor and publish a new
 * {@link SlotTableImpl} with one volatile write; readers (lookups, host and guest access) take
 * the current table without locking, so they see a slot set before or after a change, never a mix.
 * A refused change leaves the published table and every backing as they were.
 */
final class AddressSpace implements GuestMemory {
    private final MemoryManagerImpl manager;
    private final String vmName;
    private final GuestViewImpl guestView = new GuestViewImpl();
    private final List<InvalidationListener> listeners = new CopyOnWriteArrayList<>();
    /** Forwards the bindings' invalidations to the engine's listeners. */
    private final InvalidationListener forwarder = this::invalidated;
    private volatile SlotTableImpl table = SlotTableImpl.EMPTY;
    private int nextSlotId;
    private volatile boolean closed;

    AddressSpace(MemoryManagerImpl manager, String vmName) {
        this.manager = manager;
        this.vmName = vmName;
    }

    GuestView guestView() {
        return guestView;
    }

    @Override
    public String vmName() {
        return vmName;
    }

    @Override
    public SlotTable table() {
        return table;
    }

    private void checkOpen() {
        if (closed) {
            throw new CloisterException(Errno.EBADF, "address space of VM '" + vmName + "' is closed");
        }
    }

    @Override
    public MemSlot add(SlotSpec spec) {
        return addAll(List.of(spec)).get(0);
    }

    @Override
    public synchronized List<MemSlot> addAll(List<SlotSpec> specs) {
        checkOpen();
        List<SlotEntry> entries = new ArrayList<>(Arrays.asList(table.entries));
        List<SlotEntry> added = new ArrayList<>(specs.size());
        int id = nextSlotId;
        try {
            for (SlotSpec spec : specs) {
                SlotEntry e = create(id++, spec, entries);
                added.add(e);
                entries.add(e); // sorted once the whole batch is accepted
            }
        } catch (RuntimeException e) {
            for (SlotEntry undo : added) {
                release(undo);
            }
            throw e;
        }
        nextSlotId = id;
        entries.sort(Comparator.comparingLong(x -> x.slot().gpa()));
        publish(entries);
        return added.stream().map(SlotEntry::slot).toList();
    }

    /** Validates {@code spec} against the table and the batch so far, then makes its backing. */
    private SlotEntry create(int id, SlotSpec spec, List<SlotEntry> batch) {
        Pages.checkRange("slot " + id, spec.gpa(), spec.size());
        SlotEntry clash = table.firstOverlap(spec.gpa(), spec.end(), -1);
        if (clash == null) {
            int tableSize = table.entries.length;
            for (int i = tableSize; i < batch.size() && clash == null; i++) {
                MemSlot s = batch.get(i).slot();
                clash = s.gpa() < spec.end() && spec.gpa() < s.end() ? batch.get(i) : null;
            }
        }
        if (clash != null) {
            throw new CloisterException(Errno.EEXIST, String.format(
                    "slot %d [0x%x, 0x%x) of VM '%s' overlaps slot %d [0x%x, 0x%x)", id, spec.gpa(), spec.end(), vmName,
                    clash.slot().id(), clash.slot().gpa(), clash.slot().end()));
        }
        MemSlot slot = new MemSlot(id, spec.gpa(), spec.size(), spec.kind(), spec.readOnly(), spec.backing());
        return switch (spec.backing()) {
            case Backing.Anonymous a -> {
                HostMemory.Mapping m;
                try {
                    m = HostMemory.shared(spec.size());
                } catch (OutOfMemoryError oom) {
                    throw new CloisterException(Errno.ENOMEM, "slot " + id + ": " + oom.getMessage());
                }
                yield new SlotEntry(slot, m, m.segment(), null, SlotEntry.NO_ALIAS);
            }
            case Backing.AliasOf alias -> {
                SlotEntry target = null;
                for (SlotEntry e : batch) {
                    if (e.slot().id() == alias.slotId()) {
                        target = e;
                    }
                }
                if (target == null) {
                    throw new CloisterException(Errno.ENOENT, "slot " + id + " aliases slot " + alias.slotId() + ", which does not exist");
                }
                if (target.segment() == null) {
                    throw new CloisterException(Errno.EINVAL, "slot " + id + " aliases slot " + alias.slotId()
                            + ", which is restricted memory: bind the restricted file instead (and expect EINVAL, it is exclusive)");
                }
                if (alias.offset() < 0 || !Pages.aligned(alias.offset()) || alias.offset() > target.slot().size() - spec.size()) {
                    throw new CloisterException(Errno.EINVAL, String.format("slot %d aliases [0x%x, +0x%x) of slot %d, outside its 0x%x bytes",
                            id, alias.offset(), spec.size(), alias.slotId(), target.slot().size()));
                }
                yield new SlotEntry(slot, null, target.segment().asSlice(alias.offset(), spec.size()), null, alias.slotId());
            }
            case Backing.Restricted r -> {
                Binding b = r.file().bind(vmName, id, r.offset(), spec.gpa(), spec.size(), forwarder);
                yield new SlotEntry(slot, null, null, b, SlotEntry.NO_ALIAS);
            }
        };
    }

    private void release(SlotEntry e) {
        if (e.binding() != null) {
            e.binding().unbind();
        }
        if (e.mapping() != null) {
            e.mapping().close();
        }
    }

    private void publish(List<SlotEntry> sorted) {
        table = new SlotTableImpl(table.generation + 1, sorted.toArray(SlotEntry[]::new));
    }

    private SlotEntry existing(int slotId) {
        SlotEntry e = table.entry(slotId);
        if (e == null) {
            throw new CloisterException(Errno.ENOENT, "VM '" + vmName + "' has no slot " + slotId);
        }
        return e;
    }

    @Override
    public synchronized void remove(int slotId) {
        checkOpen();
        SlotEntry e = existing(slotId);
        for (SlotEntry other : table.entries) {
            if (other.aliasOf() == slotId) {
                throw new CloisterException(Errno.EBUSY, "slot " + slotId + " of VM '" + vmName + "' is aliased by slot "
                        + other.slot().id() + "; remove that first");
            }
        }
        List<SlotEntry> rest = new ArrayList<>(Arrays.asList(table.entries));
        rest.remove(e);
        publish(rest);
        release(e);
    }

    @Override
    public synchronized MemSlot move(int slotId, long newGpa) {
        checkOpen();
        SlotEntry e = existing(slotId);
        MemSlot s = e.slot();
        Pages.checkRange("slot " + slotId + " moved", newGpa, s.size());
        SlotEntry clash = table.firstOverlap(newGpa, newGpa + s.size(), slotId);
        if (clash != null) {
            throw new CloisterException(Errno.EEXIST, String.format("slot %d moved to [0x%x, 0x%x) would overlap slot %d",
                    slotId, newGpa, newGpa + s.size(), clash.slot().id()));
        }
        MemSlot moved = new MemSlot(s.id(), newGpa, s.size(), s.kind(), s.readOnly(), s.backing());
        Binding rebound = null;
        if (e.binding() != null) {
            // The range was ours a moment ago and the file lock orders us before any other binder.
            e.binding().unbind();
            Backing.Restricted r = (Backing.Restricted) s.backing();
            rebound = r.file().bind(vmName, slotId, r.offset(), newGpa, s.size(), forwarder);
        }
        List<SlotEntry> entries = new ArrayList<>(Arrays.asList(table.entries));
        entries.set(entries.indexOf(e), e.movedTo(moved, rebound));
        entries.sort(Comparator.comparingLong(x -> x.slot().gpa()));
        publish(entries);
        return moved;
    }

    @Override
    public void read(long gpa, MemorySegment dst) {
        hostAccess(gpa, dst, false);
    }

    @Override
    public void write(long gpa, MemorySegment src) {
        hostAccess(gpa, src, true);
    }

    /**
     * Host access may span slots. Every piece is checked (present, not private) before any byte
     * moves, so a refused access copies nothing.
     */
    private void hostAccess(long gpa, MemorySegment buffer, boolean write) {
        checkOpen();
        SlotTableImpl t = table;
        long len = buffer.byteSize();
        for (int pass = 0; pass < 2; pass++) {
            long done = 0;
            while (done < len) {
                long at = gpa + done;
                SlotEntry e = t.entryAt(at);
                if (e == null) {
                    throw new CloisterException(Errno.EFAULT, String.format("host %s at gpa 0x%x of VM '%s': no memory there",
                            write ? "write" : "read", at, vmName));
                }
                long n = Math.min(len - done, e.slot().end() - at);
                long inSlot = at - e.slot().gpa();
                if (e.binding() != null) {
                    long off = e.binding().offset() + inSlot;
                    if (pass == 0) {
                        long first = off & ~Pages.MASK;
                        long last = (off + n + Pages.MASK) & ~Pages.MASK;
                        if (e.binding().file().privatePages(first, last - first) > 0) {
                            throw new CloisterException(Errno.EACCES, String.format(
                                    "host %s at gpa 0x%x of VM '%s' refused: private memory", write ? "write" : "read", at, vmName));
                        }
                    } else if (write) {
                        e.binding().file().hostWrite(off, buffer.asSlice(done, n));
                    } else {
                        e.binding().file().hostRead(off, buffer.asSlice(done, n));
                    }
                } else if (pass == 1) {
                    if (write) {
                        MemorySegment.copy(buffer, done, e.segment(), inSlot, n);
                    } else {
                        MemorySegment.copy(e.segment(), inSlot, buffer, done, n);
                    }
                }
                done += n;
            }
        }
    }

    @Override
    public long mappedBytes() {
        long sum = 0;
        for (SlotEntry e : table.entries) {
            if (e.mapping() != null) {
                sum += e.slot().size();
            }
        }
        return sum;
    }

    private void invalidated(Binding binding, long gpa, long length, Change change) {
        for (InvalidationListener l : listeners) {
            l.invalidated(binding, gpa, length, change);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        // Aliases first: they borrow their target's memory.
        SlotEntry[] all = table.entries;
        for (SlotEntry e : all) {
            if (e.aliasOf() != SlotEntry.NO_ALIAS) {
                release(e);
            }
        }
        for (SlotEntry e : all) {
            if (e.aliasOf() == SlotEntry.NO_ALIAS) {
                release(e);
            }
        }
        closed = true;
        table = new SlotTableImpl(table.generation + 1, new SlotEntry[0]);
        listeners.clear();
        manager.closed(this);
    }

    @Override
    public String toString() {
        return "address space of VM '" + vmName + "'";
    }

    /** The engine-only view: a separate object, so a GuestMemory cannot be cast into it. */
    private final class GuestViewImpl implements GuestView {
        @Override
        public SlotTable table() {
            return table;
        }

        @Override
        public Access read(long gpa, MemorySegment dst, PageState as) {
            return access(gpa, dst, as, false);
        }

        @Override
        public Access write(long gpa, MemorySegment src, PageState as) {
            return access(gpa, src, as, true);
        }

        private Access access(long gpa, MemorySegment buffer, PageState as, boolean write) {
            SlotEntry e = table.entryAt(gpa);
            long len = buffer.byteSize();
            if (e == null || gpa - e.slot().gpa() > e.slot().size() - len || (write && e.slot().readOnly())) {
                return Access.MMIO;
            }
            if (e.binding() != null) {
                boolean ok = write ? e.binding().guest().write(gpa, buffer, as) : e.binding().guest().read(gpa, buffer, as);
                return ok ? Access.OK : Access.MEMORY_FAULT;
            }
            if (as == PageState.PRIVATE) {
                return Access.MEMORY_FAULT; // private access to memory that has no private backing
            }
            long inSlot = gpa - e.slot().gpa();
            if (write) {
                MemorySegment.copy(buffer, 0, e.segment(), inSlot, len);
            } else {
                MemorySegment.copy(e.segment(), inSlot, buffer, 0, len);
            }
            return Access.OK;
        }

        @Override
        public MemorySegment sharedSegment(int slotId) {
            SlotEntry e = table.entry(slotId);
            return e == null ? null : e.segment();
        }

        @Override
        public void addInvalidationListener(InvalidationListener listener) {
            listeners.add(listener);
        }

        @Override
        public void removeInvalidationListener(InvalidationListener listener) {
            listeners.remove(listener);
        }
    }
}
