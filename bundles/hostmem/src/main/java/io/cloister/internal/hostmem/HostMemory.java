package io.cloister.internal.hostmem;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Page-aligned host memory outside the Java heap, mapped through FFM. Mappings are made with MAP_NORESERVE, so a
 * several-GiB guest costs neither heap nor resident memory until its pages are touched.
 */
public final class HostMemory {
    private static final int PROT_READ = 1;
    private static final int PROT_WRITE = 2;
    private static final int MAP_SHARED = 0x01;
    private static final int MAP_PRIVATE = 0x02;
    private static final int MAP_ANONYMOUS = 0x20;
    private static final int MAP_NORESERVE = 0x4000;
    private static final int MADV_DONTNEED = 4;
    private static final int MADV_POPULATE_WRITE = 23;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE = Linker.Option.captureCallState("errno");
    private static final MethodHandle MMAP = downcall("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = downcall("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle MADVISE = downcall("madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));

    private static final AtomicLong LIVE_MAPPINGS = new AtomicLong();

    private HostMemory() {
    }

    private static MethodHandle downcall(String name, FunctionDescriptor fd) {
        MemorySegment symbol = SymbolLookup.loaderLookup().find(name)
                .or(() -> LINKER.defaultLookup().find(name))
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, fd, CAPTURE);
    }

    /** A mapping and how to release it. Not thread-safe to close twice concurrently. */
    public static final class Mapping implements AutoCloseable {
        private final MemorySegment segment;
        private boolean closed;

        private Mapping(MemorySegment segment) {
            this.segment = segment;
            LIVE_MAPPINGS.incrementAndGet();
        }

        public MemorySegment segment() {
            return segment;
        }

        /**
         * Frees {@code [offset, offset + length)}: the pages read as zero afterwards and hold no
         * host memory (private anonymous mappings only; shared ones keep their page cache).
         */
        public void discard(long offset, long length) {
            check(offset, length);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment state = arena.allocate(CALL_STATE);
                int rc = (int) MADVISE.invokeExact(state, segment.asSlice(offset, length), length, MADV_DONTNEED);
                if (rc != 0) {
                    throw new IllegalStateException("madvise(MADV_DONTNEED) failed: errno " + errno(state));
                }
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        private void check(long offset, long length) {
            if (closed) {
                throw new IllegalStateException("mapping is unmapped");
            }
            if (offset < 0 || length < 0 || offset + length > segment.byteSize()) {
                throw new IndexOutOfBoundsException(offset + "+" + length + " outside " + segment.byteSize());
            }
        }

        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment state = arena.allocate(CALL_STATE);
                int rc = (int) MUNMAP.invokeExact(state, segment, segment.byteSize());
                if (rc != 0) {
                    throw new IllegalStateException("munmap failed: errno " + errno(state));
                }
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            } finally {
                LIVE_MAPPINGS.decrementAndGet();
            }
        }
    }

    /**
     * Makes the pages of {@code range} (inside a mapping of this class) present and writable in one
     * system call (MADV_POPULATE_WRITE, Linux 5.14) instead of a page fault at each page's first
     * write. A bulk copy into fresh guest memory (a kernel image, an initrd) otherwise takes a fault
     * per 4 KiB page, and on a host that is itself a VM each is a round trip through its
     * hypervisor. Returns whether the kernel did it; when it cannot (before 5.14: EINVAL), the
     * writes fault the pages in themselves, as before.
     */
    public static boolean populateForWrite(MemorySegment range) {
        long start = range.address() & ~0xfffL;
        long end = (range.address() + range.byteSize() + 0xfff) & ~0xfffL;
        if (end <= start) {
            return true;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            return (int) MADVISE.invokeExact(state, MemorySegment.ofAddress(start), end - start, MADV_POPULATE_WRITE) == 0;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Private anonymous memory: only this process sees it; {@link Mapping#discard} zeroes and frees pages. */
    public static Mapping anonymous(long size) {
        return map(size, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);
    }

    /**
     * Shared anonymous memory (shmem): the kind KVM maps as a memslot's userspace address. It
     * holds no file descriptor, so thousands of slots cost no fds.
     */
    public static Mapping shared(long size) {
        return map(size, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1);
    }

    private static Mapping map(long size, int flags, int fd) {
        if (size <= 0) {
            throw new IllegalArgumentException("mapping size must be positive: " + size);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment addr = (MemorySegment) MMAP.invokeExact(state, MemorySegment.NULL, size, PROT_READ | PROT_WRITE,
                    flags, fd, 0L);
            if (addr.address() == -1L) {
                throw new OutOfMemoryError("mmap of " + size + " bytes failed: errno " + errno(state));
            }
            return new Mapping(addr.reinterpret(size));
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    /** Mappings made and not yet closed, in this class loader (for leak tests). */
    public static long liveMappings() {
        return LIVE_MAPPINGS.get();
    }
}
