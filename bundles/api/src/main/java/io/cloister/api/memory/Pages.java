package io.cloister.api.memory;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;

/** Page geometry shared by every bundle: 4 KiB pages. */
public final class Pages {
    public static final int SHIFT = 12;
    public static final long SIZE = 1L << SHIFT;
    public static final long MASK = SIZE - 1;

    private Pages() {
    }

    public static boolean aligned(long value) {
        return (value & MASK) == 0;
    }

    /**
     * Checks that {@code [start, start + length)} is a non-empty, page-aligned range that does not
     * wrap around; throws EINVAL naming {@code what} otherwise.
     */
    public static void checkRange(String what, long start, long length) {
        if (start < 0 || length <= 0 || !aligned(start) || !aligned(length) || start + length < start) {
            throw new CloisterException(Errno.EINVAL, String.format(
                    "%s [0x%x, +0x%x) must be non-empty, non-negative and 4 KiB aligned", what, start, length));
        }
    }
}
