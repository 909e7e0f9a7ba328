package io.cloister.restrictedmem;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.Pages;
import io.cloister.api.restricted.Binding;
import io.cloister.api.restricted.Change;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.InvalidationListener;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedStats;
import io.cloister.internal.hostmem.HostMemory;

/**
 * A guest_memfd-like file.
 *
 * Invariants, all guarded by {@code lock}:
 * - each page is owned by at most one binding (the index holds the owner), so a file offset maps
 *   to exactly one guest-physical address of exactly one VM;
 * - a page is private iff its bit in {@code privateBits} is set; the bits change only under the
 *   write lock, after every covering binding's listener has returned, so no guest access (which
 *   holds the read lock) ever sees a page in both states;
 * - {@code allocated} and {@code punched} are accounting only: pages written through the host
 *   and guest-access paths, and pages freed by a punch and not written since (never allocated).
 *   The engines' direct writes through {@link BindingImpl#guestSegment()} are not recorded, so
 *   nothing that must leave no data behind (destroy, punch, close) may consult them.
 * A call that throws has changed nothing.
 */
final class RestrictedFileImpl implements io.cloister.api.restricted.RestrictedFile {
    /** From this many pages on, destroying content frees the pages instead of zeroing them. */
    private static final long DISCARD_THRESHOLD = 16;

    private final RestrictedMemory provider;
    private final long id;
    private final String owner;
    private final long size;
    private final long pages;
    private final HostMemory.Mapping mapping;
    private final MemorySegment memory;
    private final BindingIndex index;
    private final PageBits privateBits;
    private final PageBits allocated;
    private final PageBits punched;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private boolean closed;

    RestrictedFileImpl(RestrictedMemory provider, long id, String owner, long size, PageState initial, boolean linearIndex) {
        this.provider = provider;
        this.id = id;
        this.owner = owner;
        this.size = size;
        this.pages = size >>> Pages.SHIFT;
        this.mapping = HostMemory.anonymous(size);
        this.memory = mapping.segment();
        this.index = linearIndex ? new LinearIndex() : new RangeIndex();
        // Sparse: a page's bits cost memory once they change, so a file costs what is touched.
        this.privateBits = new PageBits(pages, initial == PageState.PRIVATE);
        this.allocated = new PageBits(pages, false);
        this.punched = new PageBits(pages, false);
    }

    MemorySegment memory() {
        return memory;
    }

    @Override
    public long id() {
        return id;
    }

    @Override
    public String owner() {
        return owner;
    }

    @Override
    public long size() {
        return size;
    }

    private void checkOpen() {
        if (closed) {
            throw new CloisterException(Errno.EBADF, "restricted file " + id + " is closed");
        }
    }

    private void checkRange(String what, long offset, long length) {
        Pages.checkRange(what, offset, length);
        if (offset + length > size) {
            throw new CloisterException(Errno.EINVAL, String.format("%s [0x%x, +0x%x) passes the end of restricted file %d (size 0x%x)",
                    what, offset, length, id, size));
        }
    }

    @Override
    public Binding bind(String vm, int slotId, long offset, long gpa, long length, InvalidationListener listener) {
        checkRange("binding", offset, length);
        if (!Pages.aligned(gpa) || gpa < 0) {
            throw new CloisterException(Errno.EINVAL, String.format("binding gpa 0x%x must be non-negative and 4 KiB aligned", gpa));
        }
        if (!owner.equals(vm)) {
            throw new CloisterException(Errno.EINVAL, "restricted file " + id + " belongs to VM '" + owner
                    + "'; it cannot be bound to VM '" + vm + "'");
        }
        lock.writeLock().lock();
        try {
            checkOpen();
            BindingImpl b = new BindingImpl(this, vm, slotId, offset, gpa, length,
                    listener == null ? InvalidationListener.NONE : listener);
            BindingImpl taken = index.anyOwner(b.firstPage(), b.endPage());
            if (taken != null) {
                throw new CloisterException(Errno.EINVAL, "file " + id + " range is already bound to " + taken
                        + "; cannot bind it again to " + b);
            }
            index.add(b);
            provider.bindings.increment();
            return b;
        } finally {
            lock.writeLock().unlock();
        }
    }

    void unbind(BindingImpl b) {
        lock.writeLock().lock();
        try {
            if (!b.bound) {
                throw new CloisterException(Errno.EINVAL, b + " is not bound");
            }
            index.remove(b);
            b.bound = false;
            provider.bindings.decrement();
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public void convert(long offset, long length, PageState to, ContentRule rule) {
        checkRange("conversion", offset, length);
        lock.writeLock().lock();
        try {
            checkOpen();
            long first = offset >>> Pages.SHIFT;
            long end = (offset + length) >>> Pages.SHIFT;
            notifyOwners(first, end, to == PageState.PRIVATE ? Change.TO_PRIVATE : Change.TO_SHARED);
            if (rule == ContentRule.DESTROY) {
                destroy(first, end);
            }
            if (to == PageState.PRIVATE) {
                privateBits.set(first, end);
            } else {
                privateBits.clear(first, end);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Like fallocate(PUNCH_HOLE) on guest_memfd: the range may run past the end, which is clamped. */
    @Override
    public void punch(long offset, long requested) {
        Pages.checkRange("punch", offset, requested);
        long length = Math.min(requested, Math.max(0, size - offset));
        lock.writeLock().lock();
        try {
            checkOpen();
            if (length == 0) {
                return;
            }
            long first = offset >>> Pages.SHIFT;
            long end = (offset + length) >>> Pages.SHIFT;
            notifyOwners(first, end, Change.PUNCHED);
            mapping.discard(offset, length);
            allocated.clear(first, end);
            punched.set(first, end);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Tells each binding covering {@code [first, end)} which of its guest-physical pages change.
     * Runs before any change, so a listener that throws leaves the file as it was.
     */
    private void notifyOwners(long first, long end, Change change) {
        try {
            index.forEachOwner(first, end, b -> {
                long from = Math.max(first, b.firstPage()) << Pages.SHIFT;
                long to = Math.min(end, b.endPage()) << Pages.SHIFT;
                b.listener.invalidated(b, b.gpaOf(from), to - from, change);
            });
        } catch (RuntimeException e) {
            throw new CloisterException(Errno.EBUSY, "an invalidation listener of file " + id + " failed; nothing changed: " + e, e);
        }
    }

    /**
     * Leaves no byte of {@code [first, end)}'s content, for every page of the range: the CPU
     * engines write guest RAM through {@link BindingImpl#guestSegment()} without any bookkeeping,
     * so no record of which pages hold data can be trusted to skip one. Small ranges are zeroed
     * in place (cheaper than a system call; the pages stay resident, so they count as allocated);
     * larger ones are freed with madvise, which also returns their memory.
     */
    private void destroy(long first, long end) {
        if (end - first >= DISCARD_THRESHOLD) {
            mapping.discard(first << Pages.SHIFT, (end - first) << Pages.SHIFT);
            allocated.clear(first, end);
            return;
        }
        memory.asSlice(first << Pages.SHIFT, (end - first) << Pages.SHIFT).fill((byte) 0);
        allocated.set(first, end);
        punched.clear(first, end);
    }

    @Override
    public PageState state(long offset) {
        checkRange("page", offset & ~Pages.MASK, Pages.SIZE);
        lock.readLock().lock();
        try {
            checkOpen();
            return privateBits.get(offset >>> Pages.SHIFT) ? PageState.PRIVATE : PageState.SHARED;
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public long privatePages(long offset, long length) {
        checkRange("range", offset, length);
        lock.readLock().lock();
        try {
            checkOpen();
            return privateBits.count(offset >>> Pages.SHIFT, (offset + length) >>> Pages.SHIFT);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public void hostRead(long offset, MemorySegment dst) {
        hostAccess(offset, dst, false);
    }

    @Override
    public void hostWrite(long offset, MemorySegment src) {
        hostAccess(offset, src, true);
    }

    private void hostAccess(long offset, MemorySegment buffer, boolean write) {
        long len = buffer.byteSize();
        if (offset < 0 || len < 0 || offset > size - len) {
            throw new CloisterException(Errno.EINVAL, String.format("host access [0x%x, +0x%x) outside restricted file %d (size 0x%x)",
                    offset, len, id, size));
        }
        if (len == 0) {
            return;
        }
        lock.readLock().lock();
        try {
            checkOpen();
            long first = offset >>> Pages.SHIFT;
            long end = (offset + len + Pages.MASK) >>> Pages.SHIFT;
            long priv = privateBits.firstSet(first, end);
            if (priv >= 0) {
                throw new CloisterException(Errno.EACCES, String.format("host %s of restricted file %d refused: page 0x%x is private",
                        write ? "write" : "read", id, priv << Pages.SHIFT));
            }
            copy(offset, buffer, write, first, end);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The guest's own access through a binding; false when a page is not in state {@code as}. */
    boolean guestAccess(BindingImpl b, long offset, MemorySegment buffer, PageState as, boolean write) {
        long len = buffer.byteSize();
        if (len == 0) {
            return true;
        }
        lock.readLock().lock();
        try {
            if (!b.bound) {
                throw new CloisterException(Errno.EBADF, b + " is unbound");
            }
            long first = offset >>> Pages.SHIFT;
            long end = (offset + len + Pages.MASK) >>> Pages.SHIFT;
            long priv = privateBits.count(first, end);
            if (as == PageState.PRIVATE ? priv != end - first : priv != 0) {
                return false;
            }
            copy(offset, buffer, write, first, end);
            return true;
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Host writes from this size on make their pages present first, in one call
     * (HostMemory.populateForWrite): a kernel image, an initrd. The Linux guest's image went into
     * guest memory in 115 ms instead of 178 on a 2-core host that is itself a VM.
     */
    private static final long POPULATE_MIN = 1 << 20;

    private void copy(long offset, MemorySegment buffer, boolean write, long first, long end) {
        if (write) {
            if (buffer.byteSize() >= POPULATE_MIN) {
                HostMemory.populateForWrite(memory.asSlice(offset, buffer.byteSize()));
            }
            MemorySegment.copy(buffer, 0, memory, offset, buffer.byteSize());
            allocated.set(first, end);
            punched.clear(first, end);
        } else {
            MemorySegment.copy(memory, offset, buffer, 0, buffer.byteSize());
        }
    }

    @Override
    public RestrictedStats stats() {
        lock.readLock().lock();
        try {
            return closed ? new RestrictedStats(0, 0, 0, 0, 0, 0) : statsLocked();
        } finally {
            lock.readLock().unlock();
        }
    }

    private RestrictedStats statsLocked() {
        long priv = privateBits.count();
        return new RestrictedStats(1, index.size(), allocated.count(), priv, pages - priv, punched.count());
    }

    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            if (index.size() > 0) {
                List<String> owners = new ArrayList<>();
                index.forEachOwner(0, pages, b -> owners.add(b.toString()));
                throw new CloisterException(Errno.EBUSY, "restricted file " + id + " is still bound to " + String.join(", ", owners)
                        + "; remove those memslots first");
            }
            closed = true;
            mapping.close();
            provider.closed(this);
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "restricted file " + id + " of VM '" + owner + "' (" + pages + " pages)";
    }
}
