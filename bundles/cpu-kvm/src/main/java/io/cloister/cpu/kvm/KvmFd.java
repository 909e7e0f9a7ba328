package io.cloister.cpu.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A file descriptor of KVM (the system, a VM or a vCPU) and the ioctl on it. Every failure is a
 * {@link Sys.SysException} whose message starts with the ioctl's name from linux/kvm.h and ends
 * with the errno, e.g. "KVM_CREATE_VCPU(1) failed: errno 17 (EEXIST)".
 */
abstract class KvmFd implements AutoCloseable {
    final int fd;
    private final AtomicBoolean closed = new AtomicBoolean();

    KvmFd(int fd) {
        this.fd = fd;
    }

    /** An ioctl with an integer argument (or none): its result. */
    final int ioctl(Kvm.Ioctl request, long arg, String detail) {
        if (request.argument != null) {
            throw new IllegalArgumentException(request + " takes a struct " + request.argument.name().orElse(""));
        }
        try (Arena arena = Arena.ofConfined()) {
            return Sys.ioctl(fd, request.number, arg, request.name() + detail, Sys.callState(arena));
        }
    }

    /** An ioctl whose argument is the struct at {@code arg}, which must be at least as large as the ioctl says. */
    final int ioctl(Kvm.Ioctl request, MemorySegment arg, String detail) {
        if (request.argument == null || arg.byteSize() < request.argument.byteSize()) {
            throw new IllegalArgumentException(request + " needs a struct " + (request.argument == null ? "(none)"
                    : request.argument.name().orElse("") + " of " + request.argument.byteSize() + " bytes") + ", given " + arg.byteSize());
        }
        try (Arena arena = Arena.ofConfined()) {
            return Sys.ioctl(fd, request.number, arg, request.name() + detail, Sys.callState(arena));
        }
    }

    /** Closes the fd, once (a second close could close an fd number reused since). */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            closed();
            Sys.close(fd);
        }
    }

    /** What a subclass releases before its fd closes. */
    void closed() {
    }
}
