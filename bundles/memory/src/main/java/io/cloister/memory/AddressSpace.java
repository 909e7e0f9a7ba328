package io.cloister.memory;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
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
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.InvalidationListener;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.memory.SlotEntry.Reach;
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
        checkOverlaps(specs);
        List<SlotEntry> added = new ArrayList<>(specs.size());
        int id = nextSlotId;
        try {
            for (SlotSpec spec : specs) {
                added.add(create(id++, spec, added));
            }
        } catch (RuntimeException e) {
            for (SlotEntry undo : added) {
                release(undo);
            }
            throw e;
        }
        nextSlotId = id;
        List<SlotEntry> sorted = new ArrayList<>(added);
        sorted.sort(Comparator.comparingLong(x -> x.slot().gpa()));
        table = table.with(sorted);
        return added.stream().map(SlotEntry::slot).toList();
    }

    /**
     * Refuses (EINVAL, EEXIST) a batch whose slots are unaligned or overlap the table or each
     * other, before any backing is made: O(k log k + k log n).
     */
    private void checkOverlaps(List<SlotSpec> specs) {
        Integer[] order = new Integer[specs.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
            SlotSpec spec = specs.get(i);
            Pages.checkRange("slot " + (nextSlotId + i), spec.gpa(), spec.size());
            SlotEntry clash = table.firstOverlap(spec.gpa(), spec.end(), -1);
            if (clash != null) {
                throw overlap(nextSlotId + i, spec.gpa(), spec.end(), clash.slot().id(), clash.slot().gpa(), clash.slot().end());
            }
        }
        java.util.Arrays.sort(order, Comparator.comparingLong(i -> specs.get(i).gpa()));
        for (int k = 1; k < order.length; k++) {
            SlotSpec prev = specs.get(order[k - 1]);
            SlotSpec cur = specs.get(order[k]);
            if (cur.gpa() < prev.end()) {
                throw overlap(nextSlotId + order[k], cur.gpa(), cur.end(), nextSlotId + order[k - 1], prev.gpa(), prev.end());
            }
        }
    }

    private CloisterException overlap(int id, long gpa, long end, int otherId, long otherGpa, long otherEnd) {
        return new CloisterException(Errno.EEXIST, String.format("slot %d [0x%x, 0x%x) of VM '%s' overlaps slot %d [0x%x, 0x%x)",
                id, gpa, end, vmName, otherId, otherGpa, otherEnd));
    }

    /** Makes the backing of a slot already checked for overlaps; aliases may point into {@code batch}. */
    private SlotEntry create(int id, SlotSpec spec, List<SlotEntry> batch) {
        MemSlot slot = new MemSlot(id, spec.gpa(), spec.size(), spec.kind(), spec.readOnly(), spec.backing());
        return switch (spec.backing()) {
            case Backing.Anonymous a -> {
                HostMemory.Mapping m;
                try {
                    m = HostMemory.shared(spec.size());
                } catch (OutOfMemoryError oom) {
                    throw new CloisterException(Errno.ENOMEM, "slot " + id + ": " + oom.getMessage());
                }
                yield new SlotEntry(slot, new Reach.Host(m.segment(), m), SlotEntry.NO_ALIAS);
            }
            case Backing.AliasOf alias -> new SlotEntry(slot, aliasReach(id, spec, alias, batch), alias.slotId());
            case Backing.Restricted r -> {
                Binding b = r.file().bind(vmName, id, r.offset(), spec.gpa(), spec.size(), forwarder);
                yield new SlotEntry(slot, new Reach.Bound(b), SlotEntry.NO_ALIAS);
            }
        };
    }

    private Reach aliasReach(int id, SlotSpec spec, Backing.AliasOf alias, List<SlotEntry> batch) {
        SlotEntry target = table.entry(alias.slotId());
        for (SlotEntry e : batch) {
            if (e.slot().id() == alias.slotId()) {
                target = e;
            }
        }
        if (target == null) {
            throw new CloisterException(Errno.ENOENT, "slot " + id + " aliases slot " + alias.slotId() + ", which does not exist");
        }
        if (target.aliasOf() != SlotEntry.NO_ALIAS) {
            throw new CloisterException(Errno.EINVAL, "slot " + id + " aliases slot " + alias.slotId() + ", which is itself an alias");
        }
        if (alias.offset() < 0 || !Pages.aligned(alias.offset()) || alias.offset() > target.slot().size() - spec.size()) {
            throw new CloisterException(Errno.EINVAL, String.format("slot %d aliases [0x%x, +0x%x) of slot %d, outside its 0x%x bytes",
                    id, alias.offset(), spec.size(), alias.slotId(), target.slot().size()));
        }
        return switch (target.reach()) {
            case Reach.Host h -> new Reach.Host(h.segment().asSlice(alias.offset(), spec.size()), null);
            case Reach.Bound b -> new Reach.SharedAlias(b.binding().file(), b.binding().offset() + alias.offset());
            case Reach.SharedAlias x -> throw new IllegalStateException("alias of an alias");
        };
    }

    private static void release(SlotEntry e) {
        switch (e.reach()) {
            case Reach.Host h when h.mapping() != null -> h.mapping().close();
            case Reach.Bound b -> b.binding().unbind();
            default -> { }
        }
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
        table = table.without(e, null);
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
        Reach reach = e.reach();
        if (reach instanceof Reach.Bound b) {
            // The range was ours a moment ago and the file lock orders us before any other binder.
            b.binding().unbind();
            reach = new Reach.Bound(b.binding().file().bind(vmName, slotId, b.binding().offset(), newGpa, s.size(), forwarder));
        }
        table = table.without(e, e.movedTo(moved, reach));
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
                MemorySegment piece = buffer.asSlice(done, n);
                switch (e.reach()) {
                    case Reach.Host h -> {
                        if (pass == 1) {
                            copy(h.segment(), inSlot, piece, write);
                        }
                    }
                    case Reach.Bound b -> restrictedHostAccess(b.binding().file(), b.binding().offset() + inSlot, piece, write, pass, at);
                    case Reach.SharedAlias a -> restrictedHostAccess(a.file(), a.offset() + inSlot, piece, write, pass, at);
                }
                done += n;
            }
        }
    }

    /** Pass 0 checks that no page is private; pass 1 copies (the file re-checks under its lock). */
    private void restrictedHostAccess(RestrictedFile file, long off, MemorySegment piece, boolean write, int pass, long gpa) {
        if (pass == 0) {
            long first = off & ~Pages.MASK;
            long last = (off + piece.byteSize() + Pages.MASK) & ~Pages.MASK;
            if (file.privatePages(first, last - first) > 0) {
                throw new CloisterException(Errno.EACCES, String.format("host %s at gpa 0x%x of VM '%s' refused: private memory",
                        write ? "write" : "read", gpa, vmName));
            }
        } else if (write) {
            file.hostWrite(off, piece);
        } else {
            file.hostRead(off, piece);
        }
    }

    private static void copy(MemorySegment slotMemory, long inSlot, MemorySegment buffer, boolean write) {
        if (write) {
            MemorySegment.copy(buffer, 0, slotMemory, inSlot, buffer.byteSize());
        } else {
            MemorySegment.copy(slotMemory, inSlot, buffer, 0, buffer.byteSize());
        }
    }

    @Override
    public long mappedBytes() {
        long sum = 0;
        for (SlotEntry e : table.entries) {
            if (e.reach() instanceof Reach.Host h && h.mapping() != null) {
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
        public String vmName() {
            return vmName;
        }

        /** The binding of the restricted slot holding all of {@code [gpa, gpa + length)}; EFAULT otherwise. */
        private Binding restricted(long gpa, long length) {
            SlotEntry e = table.entryAt(gpa);
            if (e == null || !(e.reach() instanceof Reach.Bound b) || gpa - e.slot().gpa() > e.slot().size() - length) {
                throw new CloisterException(Errno.EFAULT, String.format(
                        "[0x%x, +0x%x) of VM '%s' is not inside one restricted-memory slot", gpa, length, vmName));
            }
            return b.binding();
        }

        @Override
        public PageState state(long gpa) {
            Binding b = restricted(gpa & ~Pages.MASK, Pages.SIZE);
            return b.file().state(b.offset() + ((gpa & ~Pages.MASK) - b.gpa()));
        }

        @Override
        public long privatePages() {
            long n = 0;
            for (SlotEntry e : table.entries) {
                if (e.reach() instanceof Reach.Bound b) {
                    n += b.binding().file().privatePages(b.binding().offset(), b.binding().length());
                }
            }
            return n;
        }

        @Override
        public void convert(long gpa, long length, PageState to, ContentRule rule) {
            Pages.checkRange("conversion", gpa, length);
            Binding b = restricted(gpa, length);
            b.file().convert(b.offset() + (gpa - b.gpa()), length, to, rule);
        }

        @Override
        public void readContent(long gpa, MemorySegment dst) {
            SlotEntry e = table.entryAt(gpa);
            long len = dst.byteSize();
            if (e == null || gpa - e.slot().gpa() > e.slot().size() - len) {
                throw new CloisterException(Errno.EFAULT, String.format("[0x%x, +0x%x) of VM '%s' is not inside one slot", gpa, len, vmName));
            }
            if (!(e.reach() instanceof Reach.Bound b)) {
                hostAccess(gpa, dst, false);
                return;
            }
            // Page by page, in each page's current state; a conversion in between makes the read
            // fail, and the page is read again in its new state.
            for (long done = 0; done < len; ) {
                long at = gpa + done;
                long n = Math.min(len - done, Pages.SIZE - (at & Pages.MASK));
                MemorySegment piece = dst.asSlice(done, n);
                PageState st = b.binding().file().state(b.binding().offset() + ((at & ~Pages.MASK) - b.binding().gpa()));
                if (b.binding().guest().read(at, piece, st)) {
                    done += n;
                }
            }
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
            return switch (e.reach()) {
                case Reach.Bound b -> (write ? b.binding().guest().write(gpa, buffer, as) : b.binding().guest().read(gpa, buffer, as))
                        ? Access.OK : Access.MEMORY_FAULT;
                // Memory without a private backing: a private access is a fault, like KVM without the attribute.
                case Reach.Host h when as == PageState.PRIVATE -> Access.MEMORY_FAULT;
                case Reach.Host h -> {
                    copy(h.segment(), gpa - e.slot().gpa(), buffer, write);
                    yield Access.OK;
                }
                case Reach.SharedAlias a when as == PageState.PRIVATE -> Access.MEMORY_FAULT;
                case Reach.SharedAlias a -> {
                    try {
                        long off = a.offset() + (gpa - e.slot().gpa());
                        if (write) {
                            a.file().hostWrite(off, buffer);
                        } else {
                            a.file().hostRead(off, buffer);
                        }
                        yield Access.OK;
                    } catch (CloisterException denied) {
                        yield Access.MEMORY_FAULT;
                    }
                }
            };
        }

        @Override
        public MemorySegment sharedSegment(int slotId) {
            SlotEntry e = table.entry(slotId);
            return e != null && e.reach() instanceof Reach.Host h ? h.segment() : null;
        }

        @Override
        public MemorySegment guestSegment(int slotId) {
            SlotEntry e = table.entry(slotId);
            if (e == null) {
                return null;
            }
            return switch (e.reach()) {
                case Reach.Host h -> h.segment();
                case Reach.Bound b -> b.binding().guestSegment();
                case Reach.SharedAlias a -> null;
            };
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
