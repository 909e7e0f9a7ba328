package io.cloister.cpu.kvm;

import static io.cloister.cpu.kvm.KvmLayouts.EXIT;
import static io.cloister.cpu.kvm.KvmLayouts.KVM_RUN;

import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * A vCPU's struct kvm_run, read and written through its layout's fields by name: the exit KVM
 * reports after KVM_RUN, and the answers (IN data, MMIO read data, hypercall return) KVM hands the
 * guest on the next KVM_RUN. Only the exit member that exit_reason names is meaningful.
 */
final class KvmRun {
    private static final VarHandle IMMEDIATE_EXIT = KvmLayouts.handle(KVM_RUN, "immediate_exit");
    private static final VarHandle EXIT_REASON = KvmLayouts.handle(KVM_RUN, "exit_reason");

    private static final VarHandle IO_DIRECTION = KvmLayouts.handle(KVM_RUN, EXIT, "io", "direction");
    private static final VarHandle IO_SIZE = KvmLayouts.handle(KVM_RUN, EXIT, "io", "size");
    private static final VarHandle IO_PORT = KvmLayouts.handle(KVM_RUN, EXIT, "io", "port");
    private static final VarHandle IO_COUNT = KvmLayouts.handle(KVM_RUN, EXIT, "io", "count");
    private static final VarHandle IO_DATA_OFFSET = KvmLayouts.handle(KVM_RUN, EXIT, "io", "data_offset");

    private static final VarHandle MMIO_PHYS_ADDR = KvmLayouts.handle(KVM_RUN, EXIT, "mmio", "phys_addr");
    private static final long MMIO_DATA = KvmLayouts.offset(KVM_RUN, EXIT, "mmio", "data");
    private static final VarHandle MMIO_LEN = KvmLayouts.handle(KVM_RUN, EXIT, "mmio", "len");
    private static final VarHandle MMIO_IS_WRITE = KvmLayouts.handle(KVM_RUN, EXIT, "mmio", "is_write");

    private static final VarHandle HYPERCALL_NR = KvmLayouts.handle(KVM_RUN, EXIT, "hypercall", "nr");
    private static final VarHandle HYPERCALL_ARGS = KVM_RUN.varHandle(PathElement.groupElement(EXIT),
            PathElement.groupElement("hypercall"), PathElement.groupElement("args"), PathElement.sequenceElement());
    private static final VarHandle HYPERCALL_RET = KvmLayouts.handle(KVM_RUN, EXIT, "hypercall", "ret");

    private static final VarHandle MEMORY_FAULT_FLAGS = KvmLayouts.handle(KVM_RUN, EXIT, "memory_fault", "flags");
    private static final VarHandle MEMORY_FAULT_GPA = KvmLayouts.handle(KVM_RUN, EXIT, "memory_fault", "gpa");
    private static final VarHandle MEMORY_FAULT_SIZE = KvmLayouts.handle(KVM_RUN, EXIT, "memory_fault", "size");

    private static final VarHandle FAIL_ENTRY_REASON = KvmLayouts.handle(KVM_RUN, EXIT, "fail_entry", "hardware_entry_failure_reason");
    private static final VarHandle INTERNAL_SUBERROR = KvmLayouts.handle(KVM_RUN, EXIT, "internal", "suberror");

    /** The whole mapping: kvm_run, then the pages (port IO data) that data_offset points into. */
    final MemorySegment segment;

    KvmRun(MemorySegment segment) {
        if (segment.byteSize() < KVM_RUN.byteSize()) {
            throw new IllegalArgumentException("a kvm_run mapping of " + segment.byteSize() + " bytes, smaller than struct kvm_run");
        }
        this.segment = segment;
    }

    /** kvm_run.exit_reason (KVM_EXIT_*). */
    int exitReason() {
        return (int) EXIT_REASON.get(segment, 0L);
    }

    /** kvm_run.immediate_exit: while set, KVM_RUN returns at once with EINTR. */
    void immediateExit(boolean on) {
        IMMEDIATE_EXIT.set(segment, 0L, (byte) (on ? 1 : 0));
    }

    boolean immediateExit() {
        return (byte) IMMEDIATE_EXIT.get(segment, 0L) != 0;
    }

    // KVM_EXIT_IO

    boolean ioOut() {
        return (byte) IO_DIRECTION.get(segment, 0L) == Kvm.KVM_EXIT_IO_OUT;
    }

    /** Bytes per access: 1, 2 or 4. */
    int ioSize() {
        return (byte) IO_SIZE.get(segment, 0L);
    }

    int ioPort() {
        return (short) IO_PORT.get(segment, 0L) & 0xffff;
    }

    /** Accesses: more than 1 for a string instruction (INS/OUTS with REP). */
    int ioCount() {
        return (int) IO_COUNT.get(segment, 0L);
    }

    /** The first access's data: what an OUT wrote. */
    long ioData() {
        return read(ioDataOffset(), ioSize());
    }

    /** Answers an IN of {@code size} bytes (written where KVM takes it on the next KVM_RUN). */
    void ioData(int size, long value) {
        write(ioDataOffset(), size, value);
    }

    private long ioDataOffset() {
        long off = (long) IO_DATA_OFFSET.get(segment, 0L);
        if (off < 0 || off > segment.byteSize() - 8) {
            throw new IllegalStateException("kvm_run io.data_offset 0x" + Long.toHexString(off) + " outside the mapping");
        }
        return off;
    }

    // KVM_EXIT_MMIO

    long mmioPhysAddr() {
        return (long) MMIO_PHYS_ADDR.get(segment, 0L);
    }

    /** Bytes of the access, 1 to 8. */
    int mmioLen() {
        return (int) MMIO_LEN.get(segment, 0L);
    }

    boolean mmioIsWrite() {
        return (byte) MMIO_IS_WRITE.get(segment, 0L) != 0;
    }

    /** What a write wrote ({@code len} bytes of data). */
    long mmioData(int len) {
        return read(MMIO_DATA, len);
    }

    /** Answers a read of {@code len} bytes. */
    void mmioData(int len, long value) {
        write(MMIO_DATA, len, value);
    }

    // KVM_EXIT_HYPERCALL

    long hypercallNr() {
        return (long) HYPERCALL_NR.get(segment, 0L);
    }

    /** hypercall.args[i], i from 0 to 5. */
    long hypercallArg(int i) {
        return (long) HYPERCALL_ARGS.get(segment, 0L, (long) i);
    }

    /** hypercall.ret: what the guest finds in rax after the VMCALL. */
    void hypercallRet(long value) {
        HYPERCALL_RET.set(segment, 0L, value);
    }

    long hypercallRet() {
        return (long) HYPERCALL_RET.get(segment, 0L);
    }

    // KVM_EXIT_MEMORY_FAULT

    long memoryFaultFlags() {
        return (long) MEMORY_FAULT_FLAGS.get(segment, 0L);
    }

    long memoryFaultGpa() {
        return (long) MEMORY_FAULT_GPA.get(segment, 0L);
    }

    long memoryFaultSize() {
        return (long) MEMORY_FAULT_SIZE.get(segment, 0L);
    }

    // KVM_EXIT_FAIL_ENTRY, KVM_EXIT_INTERNAL_ERROR

    long failEntryReason() {
        return (long) FAIL_ENTRY_REASON.get(segment, 0L);
    }

    int internalSuberror() {
        return (int) INTERNAL_SUBERROR.get(segment, 0L);
    }

    /** {@code size} bytes (1, 2, 4, else 8) at {@code offset}, zero-extended. */
    private long read(long offset, int size) {
        return switch (size) {
            case 1 -> segment.get(ValueLayout.JAVA_BYTE, offset) & 0xffL;
            case 2 -> segment.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset) & 0xffffL;
            case 4 -> segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset) & 0xffffffffL;
            default -> segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset);
        };
    }

    private void write(long offset, int size, long v) {
        switch (size) {
            case 1 -> segment.set(ValueLayout.JAVA_BYTE, offset, (byte) v);
            case 2 -> segment.set(ValueLayout.JAVA_SHORT_UNALIGNED, offset, (short) v);
            case 4 -> segment.set(ValueLayout.JAVA_INT_UNALIGNED, offset, (int) v);
            default -> segment.set(ValueLayout.JAVA_LONG_UNALIGNED, offset, v);
        }
    }
}
