package io.cloister.api;

/** Error kinds, named after the Linux errno a KVM ioctl would return for the same mistake. */
public enum Errno {
    /** Bad argument: unaligned, out of range, or a range already bound (alias, overlap). */
    EINVAL(22),
    /** A memslot or device range overlaps an existing one. */
    EEXIST(17),
    /** No such slot, file, VM or backend. */
    ENOENT(2),
    /** The file or object was closed. */
    EBADF(9),
    /** Access refused: the host touched a private page, or a policy forbids the operation. */
    EACCES(13),
    /** The operation is not allowed in the current state (e.g. VM running). */
    EBUSY(16),
    /** Not enough memory for the request. */
    ENOMEM(12),
    /** The operation is not supported by this backend or engine. */
    EOPNOTSUPP(95),
    /** Guest address outside guest memory. */
    EFAULT(14),
    /** A backend or device failed internally; the VM goes on. */
    EIO(5);

    private final int code;

    Errno(int code) {
        this.code = code;
    }

    /** The positive Linux errno value. */
    public int code() {
        return code;
    }
}
