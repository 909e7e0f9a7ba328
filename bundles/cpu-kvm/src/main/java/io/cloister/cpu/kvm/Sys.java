package io.cloister.cpu.kvm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/** The few libc calls KVM needs (open, ioctl, mmap, close), with errno, through FFM. */
final class Sys {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle OPEN = handle("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), 2);
    private static final MethodHandle IOCTL_LONG = handle("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), 2);
    private static final MethodHandle IOCTL_PTR = handle("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), 2);
    private static final MethodHandle MMAP = handle("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG), -1);
    private static final MethodHandle MUNMAP = handle("munmap", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG), -1);
    private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle FALLOCATE = handle("fallocate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), -1);
    static final int FALLOC_FL_KEEP_SIZE = 1;
    static final int FALLOC_FL_PUNCH_HOLE = 2;

    private static final MethodHandle GETTID = handle("gettid", FunctionDescriptor.of(JAVA_INT), -1);
    private static final MethodHandle GETPID = handle("getpid", FunctionDescriptor.of(JAVA_INT), -1);
    private static final MethodHandle TGKILL = handle("tgkill", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle SIGACTION_CALL = handle("sigaction", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), -1);

    /**
     * struct sigaction of glibc on x86-64: the handler, a 1024-bit signal mask, the flags and the
     * restorer (the kernel's own struct differs; this is the one libc's sigaction takes).
     */
    static final StructLayout SIGACTION = MemoryLayout.structLayout(
            ADDRESS.withName("sa_handler"), MemoryLayout.sequenceLayout(16, JAVA_LONG).withName("sa_mask"),
            JAVA_INT.withName("sa_flags"), MemoryLayout.paddingLayout(4), ADDRESS.withName("sa_restorer")).withName("sigaction");
    private static final VarHandle SA_HANDLER = SIGACTION.varHandle(MemoryLayout.PathElement.groupElement("sa_handler"));

    /** The signal that kicks a vCPU thread out of KVM_RUN (a real-time one: HotSpot and glibc leave it alone). */
    static final int KICK_SIGNAL = 40;

    static final int O_RDWR = 2;
    static final int O_CLOEXEC = 0x80000;

    /** A failed call: the call's name and errno. */
    static final class SysException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int errno;

        SysException(String call, int errno) {
            super(call + " failed: errno " + errno + " (" + name(errno) + ")");
            this.errno = errno;
        }
    }

    private Sys() {
    }

    private static MethodHandle handle(String name, FunctionDescriptor fd, int firstVariadic) {
        MemorySegment symbol = LINKER.defaultLookup().find(name).orElseThrow(() -> new UnsatisfiedLinkError(name));
        return firstVariadic < 0 ? LINKER.downcallHandle(symbol, fd, Linker.Option.captureCallState("errno"))
                : LINKER.downcallHandle(symbol, fd, Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(firstVariadic));
    }

    static String name(int errno) {
        return switch (errno) {
            case 0 -> "ok";
            case 1 -> "EPERM";
            case 2 -> "ENOENT";
            case 4 -> "EINTR";
            case 9 -> "EBADF";
            case 12 -> "ENOMEM";
            case 13 -> "EACCES";
            case 14 -> "EFAULT";
            case 16 -> "EBUSY";
            case 17 -> "EEXIST";
            case 19 -> "ENODEV";
            case 22 -> "EINVAL";
            case 25 -> "ENOTTY";
            case 95 -> "EOPNOTSUPP";
            default -> "errno " + errno;
        };
    }

    static int open(String path, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(STATE);
            int fd = (int) OPEN.invokeExact(st, arena.allocateFrom(path), flags, 0);
            if (fd < 0) {
                throw new SysException("open(" + path + ")", (int) ERRNO.get(st, 0L));
            }
            return fd;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** ioctl with an integer argument; returns the result, throws naming {@code what} on failure. */
    static int ioctl(int fd, long request, long arg, String what, MemorySegment state) {
        try {
            return checked((int) IOCTL_LONG.invokeExact(state, fd, request, arg), what, state);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** ioctl with a pointer argument (a struct); as above. */
    static int ioctl(int fd, long request, MemorySegment arg, String what, MemorySegment state) {
        try {
            return checked((int) IOCTL_PTR.invokeExact(state, fd, request, arg), what, state);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static int checked(int rc, String what, MemorySegment state) {
        if (rc < 0) {
            throw new SysException(what, (int) ERRNO.get(state, 0L));
        }
        return rc;
    }

    /** errno of the last call made with {@code state}, without throwing (for EINTR-tolerant loops). */
    static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    static MemorySegment callState(Arena arena) {
        return arena.allocate(STATE);
    }

    /** mmap(2) of {@code size} bytes of fd, shared and read-write; munmap when {@code owner} closes. */
    static MemorySegment mmapShared(int fd, long size, Arena owner) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(STATE);
            MemorySegment p = (MemorySegment) MMAP.invokeExact(st, MemorySegment.NULL, size, 3, 1, fd, 0L);
            if (p.address() == -1L) {
                throw new SysException("mmap(kvm_run)", (int) ERRNO.get(st, 0L));
            }
            long address = p.address();
            return p.reinterpret(size, owner, unmapped -> munmap(address, size));
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void munmap(long address, long size) {
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) MUNMAP.invokeExact(arena.allocate(STATE), address, size);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** fallocate(2); returns 0 or the errno (no exception: callers compare errnos). */
    static int fallocate(int fd, int mode, long offset, long length) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(STATE);
            int rc = (int) FALLOCATE.invokeExact(st, fd, mode, offset, length);
            return rc == 0 ? 0 : (int) ERRNO.get(st, 0L);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    static int gettid() {
        try (Arena arena = Arena.ofConfined()) {
            return (int) GETTID.invokeExact(arena.allocate(STATE));
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Sends the kick signal to thread {@code tid} of this process. */
    static void kick(int tid) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(STATE);
            int pid = (int) GETPID.invokeExact(st);
            int ignored = (int) TGKILL.invokeExact(st, pid, tid, KICK_SIGNAL);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static volatile boolean kickHandlerInstalled;

    /**
     * Installs a handler for the kick signal, once. The signal only has to interrupt the KVM_RUN
     * system call (which then fails with EINTR, and immediate_exit makes the vCPU return); the
     * handler does nothing: it is libc's getpid, harmless with any argument, so no Java code runs
     * in signal context.
     */
    static synchronized void installKickHandler() {
        if (kickHandlerInstalled) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment action = arena.allocate(SIGACTION); // zeroed
            SA_HANDLER.set(action, 0L, LINKER.defaultLookup().find("getpid").orElseThrow());
            // sa_mask empty, sa_flags 0: no SA_RESTART, so KVM_RUN is not restarted
            MemorySegment st = arena.allocate(STATE);
            int rc = (int) SIGACTION_CALL.invokeExact(st, KICK_SIGNAL, action, MemorySegment.NULL);
            if (rc != 0) {
                throw new SysException("sigaction(" + KICK_SIGNAL + ")", (int) ERRNO.get(st, 0L));
            }
            kickHandlerInstalled = true;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    static void close(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) CLOSE.invokeExact(arena.allocate(STATE), fd);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
