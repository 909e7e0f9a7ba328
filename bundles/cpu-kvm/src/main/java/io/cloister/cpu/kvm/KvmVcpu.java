package io.cloister.cpu.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.cloister.api.cpu.Exit;
import io.cloister.api.cpu.Vcpu;

/**
 * A vCPU on KVM. It enters the guest in 32-bit protected mode with flat segments, as the PVH boot
 * protocol says, and turns KVM's exits into Cloister's. Exits are read from the shared kvm_run page;
 * completions are written back there before the next KVM_RUN.
 */
final class KvmVcpu implements Vcpu {
    private final KvmVm vm;
    private final int index;
    private final int fd;
    private final MemorySegment run;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment state = Sys.callState(arena);
    private volatile boolean exitRequested;
    /** The kernel thread id running this vCPU, or 0 when it is not in run(). */
    private volatile int tid;
    /** What complete() answers: 1 port IN, 2 MMIO read, 3 hypercall. */
    private int awaiting;
    private int awaitSize;

    KvmVcpu(KvmVm vm, int index, long entry, long startInfo, MemorySegment cpuid) {
        this.vm = vm;
        this.index = index;
        Sys.installKickHandler();
        fd = Sys.ioctl(vm.vmFd, Kvm.CREATE_VCPU, index, "KVM_CREATE_VCPU", state);
        run = Sys.mmapShared(fd, vm.runSize);
        Sys.ioctl(fd, Kvm.SET_CPUID2, cpuid, "KVM_SET_CPUID2", state);

        MemorySegment sregs = arena.allocate(Kvm.SREGS_SIZE);
        Sys.ioctl(fd, Kvm.GET_SREGS, sregs, "KVM_GET_SREGS", state);
        Kvm.segment(sregs, Kvm.SEG_CS, 0, 0xffffffff, 0x08, 0xb, true, false);
        for (long seg : new long[] {Kvm.SEG_DS, Kvm.SEG_ES, Kvm.SEG_FS, Kvm.SEG_GS, Kvm.SEG_SS}) {
            Kvm.segment(sregs, seg, 0, 0xffffffff, 0x10, 0x3, false, false);
        }
        Kvm.segment(sregs, Kvm.SEG_TR, 0, 0x67, 0x18, 0xb, false, true);
        Kvm.segment(sregs, Kvm.SEG_LDT, 0, 0xffff, 0, 0x2, false, true);
        sregs.set(ValueLayout.JAVA_LONG_UNALIGNED, Kvm.SREG_CR0, 0x11); // PE, ET
        sregs.set(ValueLayout.JAVA_LONG_UNALIGNED, Kvm.SREG_CR3, 0);
        sregs.set(ValueLayout.JAVA_LONG_UNALIGNED, Kvm.SREG_CR4, 0);
        sregs.set(ValueLayout.JAVA_LONG_UNALIGNED, Kvm.SREG_EFER, 0);
        Sys.ioctl(fd, Kvm.SET_SREGS, sregs, "KVM_SET_SREGS", state);

        MemorySegment regs = arena.allocate(Kvm.REGS_SIZE);
        regs.set(ValueLayout.JAVA_LONG, Kvm.REG_RIP, entry);
        regs.set(ValueLayout.JAVA_LONG, Kvm.REG_RBX, startInfo);
        regs.set(ValueLayout.JAVA_LONG, Kvm.REG_RFLAGS, 2);
        Sys.ioctl(fd, Kvm.SET_REGS, regs, "KVM_SET_REGS", state);
    }

    @Override
    public int index() {
        return index;
    }

    @Override
    public Exit run() {
        tid = Sys.gettid();
        try {
            return runLoop();
        } finally {
            tid = 0;
        }
    }

    private Exit runLoop() {
        while (true) {
            if (exitRequested) {
                exitRequested = false;
                run.set(ValueLayout.JAVA_BYTE, Kvm.RUN_IMMEDIATE_EXIT, (byte) 0);
                return INTERRUPTED;
            }
            try {
                Sys.ioctl(fd, Kvm.RUN, 0, "KVM_RUN", state);
            } catch (Sys.SysException e) {
                if (e.errno == 4) { // EINTR: immediate_exit or a signal
                    continue;
                }
                return new Exit.Failure(e.getMessage());
            }
            int reason = run.get(ValueLayout.JAVA_INT, Kvm.RUN_EXIT_REASON);
            long u = Kvm.RUN_UNION;
            switch (reason) {
                case Kvm.EXIT_IO -> {
                    boolean out = run.get(ValueLayout.JAVA_BYTE, u) == 1;
                    int size = run.get(ValueLayout.JAVA_BYTE, u + 1);
                    int port = run.get(ValueLayout.JAVA_SHORT, u + 2) & 0xffff;
                    int count = run.get(ValueLayout.JAVA_INT, u + 4);
                    long data = run.get(ValueLayout.JAVA_LONG, u + 8);
                    if (count != 1) {
                        return new Exit.Failure("string port IO (count " + count + ") at port 0x" + Integer.toHexString(port));
                    }
                    if (out) {
                        return io(port, size, true, read(data, size));
                    }
                    awaiting = 1;
                    awaitSize = size;
                    return io(port, size, false, 0);
                }
                case Kvm.EXIT_MMIO -> {
                    long gpa = run.get(ValueLayout.JAVA_LONG, u);
                    int len = run.get(ValueLayout.JAVA_INT, u + 16);
                    boolean write = run.get(ValueLayout.JAVA_BYTE, u + 20) != 0;
                    if (write) {
                        return mmio(gpa, len, true, read(u + 8, len));
                    }
                    awaiting = 2;
                    awaitSize = len;
                    return mmio(gpa, len, false, 0);
                }
                case Kvm.EXIT_HYPERCALL -> {
                    awaiting = 3;
                    return new Exit.Hypercall(run.get(ValueLayout.JAVA_LONG, u), run.get(ValueLayout.JAVA_LONG, u + 8),
                            run.get(ValueLayout.JAVA_LONG, u + 16), run.get(ValueLayout.JAVA_LONG, u + 24),
                            run.get(ValueLayout.JAVA_LONG, u + 32));
                }
                case Kvm.EXIT_HLT -> {
                    return HALT;
                }
                case Kvm.EXIT_SHUTDOWN -> {
                    return new Exit.Shutdown("KVM_EXIT_SHUTDOWN (triple fault)");
                }
                case Kvm.EXIT_MEMORY_FAULT -> {
                    long flags = run.get(ValueLayout.JAVA_LONG, u);
                    return new Exit.MemoryFault(run.get(ValueLayout.JAVA_LONG, u + 8), run.get(ValueLayout.JAVA_LONG, u + 16),
                            (flags & (1L << 3)) != 0);
                }
                case Kvm.EXIT_FAIL_ENTRY -> {
                    return new Exit.Failure("KVM_EXIT_FAIL_ENTRY, hardware reason 0x"
                            + Long.toHexString(run.get(ValueLayout.JAVA_LONG, u)));
                }
                case Kvm.EXIT_INTERNAL_ERROR -> {
                    return new Exit.Failure("KVM_EXIT_INTERNAL_ERROR, suberror " + run.get(ValueLayout.JAVA_INT, u) + " at rip 0x"
                            + Long.toHexString(rip()));
                }
                case Kvm.EXIT_INTR -> {
                }
                default -> {
                    return new Exit.Failure("unhandled KVM exit reason " + reason);
                }
            }
        }
    }

    private long rip() {
        return registers().get("rip");
    }

    private long read(long offset, int size) {
        return switch (size) {
            case 1 -> run.get(ValueLayout.JAVA_BYTE, offset) & 0xffL;
            case 2 -> run.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset) & 0xffffL;
            case 4 -> run.get(ValueLayout.JAVA_INT_UNALIGNED, offset) & 0xffffffffL;
            default -> run.get(ValueLayout.JAVA_LONG_UNALIGNED, offset);
        };
    }

    private void write(long offset, int size, long v) {
        switch (size) {
            case 1 -> run.set(ValueLayout.JAVA_BYTE, offset, (byte) v);
            case 2 -> run.set(ValueLayout.JAVA_SHORT_UNALIGNED, offset, (short) v);
            case 4 -> run.set(ValueLayout.JAVA_INT_UNALIGNED, offset, (int) v);
            default -> run.set(ValueLayout.JAVA_LONG_UNALIGNED, offset, v);
        }
    }

    @Override
    public void complete(long value) {
        switch (awaiting) {
            case 1 -> write(run.get(ValueLayout.JAVA_LONG, Kvm.RUN_UNION + 8), awaitSize, value);
            case 2 -> write(Kvm.RUN_UNION + 8, awaitSize, value);
            case 3 -> run.set(ValueLayout.JAVA_LONG, Kvm.RUN_UNION + 56, value);
            default -> { }
        }
        awaiting = 0;
    }

    static final String[] NAMES = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12", "r13",
        "r14", "r15", "rip", "rflags"};

    @Override
    public java.util.Map<String, Long> registers() {
        java.util.Map<String, Long> m = new java.util.LinkedHashMap<>();
        MemorySegment regs = arena.allocate(Kvm.REGS_SIZE);
        Sys.ioctl(fd, Kvm.GET_REGS, regs, "KVM_GET_REGS", state);
        for (int i = 0; i < NAMES.length; i++) {
            m.put(NAMES[i], regs.get(ValueLayout.JAVA_LONG, i * 8L));
        }
        MemorySegment sregs = arena.allocate(Kvm.SREGS_SIZE);
        Sys.ioctl(fd, Kvm.GET_SREGS, sregs, "KVM_GET_SREGS", state);
        m.put("cr0", sregs.get(ValueLayout.JAVA_LONG_UNALIGNED, Kvm.SREG_CR0));
        m.put("cr3", sregs.get(ValueLayout.JAVA_LONG_UNALIGNED, Kvm.SREG_CR3));
        m.put("cr4", sregs.get(ValueLayout.JAVA_LONG_UNALIGNED, Kvm.SREG_CR4));
        m.put("efer", sregs.get(ValueLayout.JAVA_LONG_UNALIGNED, Kvm.SREG_EFER));
        return m;
    }

    @Override
    public long instructions() {
        return -1;
    }

    /**
     * immediate_exit makes the next KVM_RUN return at once; the kick signal interrupts one that
     * is running (it fails with EINTR), so even a guest that never exits comes out.
     */
    private static final Exit.Interrupted INTERRUPTED = new Exit.Interrupted();
    private static final Exit.Halt HALT = new Exit.Halt();
    // The last IO and MMIO exits: exits are values, so an equal one is returned again instead of a
    // new record. Port polling (every IN of a port) and repeated writes then allocate nothing.
    private Exit.Io lastIo = new Exit.Io(-1, 0, false, 0);
    private Exit.Mmio lastMmio = new Exit.Mmio(-1, 0, false, 0);

    private Exit.Io io(int port, int size, boolean write, long value) {
        Exit.Io e = lastIo;
        if (e.port() != port || e.size() != size || e.write() != write || e.value() != value) {
            e = new Exit.Io(port, size, write, value);
            lastIo = e;
        }
        return e;
    }

    private Exit.Mmio mmio(long gpa, int size, boolean write, long value) {
        Exit.Mmio e = lastMmio;
        if (e.gpa() != gpa || e.size() != size || e.write() != write || e.value() != value) {
            e = new Exit.Mmio(gpa, size, write, value);
            lastMmio = e;
        }
        return e;
    }

    @Override
    public void requestExit() {
        exitRequested = true;
        run.set(ValueLayout.JAVA_BYTE, Kvm.RUN_IMMEDIATE_EXIT, (byte) 1);
        int t = tid;
        if (t != 0) {
            Sys.kick(t);
        }
    }

    @Override
    public void close() {
        Sys.close(fd);
        vm.vcpuClosed();
    }
}
