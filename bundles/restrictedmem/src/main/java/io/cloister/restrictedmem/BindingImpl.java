package io.cloister.restrictedmem;

import java.lang.foreign.MemorySegment;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.Pages;
import io.cloister.api.restricted.Binding;
import io.cloister.api.restricted.GuestPages;
import io.cloister.api.restricted.InvalidationListener;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;

/** One exclusive binding of a file range to a VM's guest-physical range. */
final class BindingImpl implements Binding, GuestPages {
    private final RestrictedFileImpl file;
    private final String vm;
    private final int slotId;
    private final long offset;
    private final long gpa;
    private final long length;
    final InvalidationListener listener;
    /** Written under the file's write lock; read under its read lock. */
    boolean bound = true;

    BindingImpl(RestrictedFileImpl file, String vm, int slotId, long offset, long gpa, long length,
            InvalidationListener listener) {
        this.file = file;
        this.vm = vm;
        this.slotId = slotId;
        this.offset = offset;
        this.gpa = gpa;
        this.length = length;
        this.listener = listener;
    }

    long firstPage() {
        return offset >>> Pages.SHIFT;
    }

    long endPage() {
        return (offset + length) >>> Pages.SHIFT;
    }

    /** Guest-physical address of file offset {@code off}, which must lie in this binding. */
    long gpaOf(long off) {
        return gpa + (off - offset);
    }

    @Override
    public RestrictedFile file() {
        return file;
    }

    @Override
    public String vm() {
        return vm;
    }

    @Override
    public int slotId() {
        return slotId;
    }

    @Override
    public long offset() {
        return offset;
    }

    @Override
    public long gpa() {
        return gpa;
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public GuestPages guest() {
        return this;
    }

    @Override
    public MemorySegment guestSegment() {
        return file.memory().asSlice(offset, length);
    }

    @Override
    public void unbind() {
        file.unbind(this);
    }

    @Override
    public boolean read(long address, MemorySegment dst, PageState as) {
        return file.guestAccess(this, fileOffset(address, dst.byteSize()), dst, as, false);
    }

    @Override
    public boolean write(long address, MemorySegment src, PageState as) {
        return file.guestAccess(this, fileOffset(address, src.byteSize()), src, as, true);
    }

    private long fileOffset(long address, long size) {
        if (address < gpa || size < 0 || address - gpa > length - size) {
            throw new CloisterException(Errno.EFAULT, String.format("guest access [0x%x, +0x%x) outside %s", address, size, this));
        }
        return offset + (address - gpa);
    }

    @Override
    public String toString() {
        return String.format("VM '%s' slot %d at gpa 0x%x (file %d [0x%x, +0x%x))", vm, slotId, gpa, file.id(), offset, length);
    }
}
