package io.cloister.cpu.kvm;

import java.util.function.LongSupplier;

import io.cloister.api.cpu.Exit;

/**
 * Turns the exit KVM reports in a vCPU's kvm_run into Cloister's {@link Exit}, and writes the
 * VMM's answer to it (IN data, MMIO read data, hypercall return) back into kvm_run, where KVM
 * gives it to the guest on the next KVM_RUN. Used by the one thread running the vCPU.
 */
final class KvmExits {
    private final KvmRun run;
    /** The guest's rip, for the report of an internal error (a KVM_GET_REGS). */
    private final LongSupplier rip;
    /** What complete() answers: 1 port IN, 2 MMIO read, 3 hypercall. */
    private int awaiting;
    private int awaitSize;

    KvmExits(KvmRun run, LongSupplier rip) {
        this.run = run;
        this.rip = rip;
    }

    /** Cloister's exit for the one KVM reports in kvm_run, or null to enter the guest again. */
    Exit exit(int reason) {
        switch (reason) {
            case Kvm.KVM_EXIT_IO -> {
                int size = run.ioSize();
                int port = run.ioPort();
                int count = run.ioCount();
                if (count != 1) {
                    return new Exit.Failure("string port IO (count " + count + ") at port 0x" + Integer.toHexString(port));
                }
                if (run.ioOut()) {
                    return io(port, size, true, run.ioData());
                }
                awaiting = 1;
                awaitSize = size;
                return io(port, size, false, 0);
            }
            case Kvm.KVM_EXIT_MMIO -> {
                long gpa = run.mmioPhysAddr();
                int len = run.mmioLen();
                if (run.mmioIsWrite()) {
                    return mmio(gpa, len, true, run.mmioData(len));
                }
                awaiting = 2;
                awaitSize = len;
                return mmio(gpa, len, false, 0);
            }
            case Kvm.KVM_EXIT_HYPERCALL -> {
                awaiting = 3;
                return new Exit.Hypercall(run.hypercallNr(), run.hypercallArg(0), run.hypercallArg(1), run.hypercallArg(2),
                        run.hypercallArg(3));
            }
            case Kvm.KVM_EXIT_HLT -> {
                return HALT;
            }
            case Kvm.KVM_EXIT_SHUTDOWN -> {
                return new Exit.Shutdown("KVM_EXIT_SHUTDOWN (triple fault)");
            }
            case Kvm.KVM_EXIT_MEMORY_FAULT -> {
                return new Exit.MemoryFault(run.memoryFaultGpa(), run.memoryFaultSize(),
                        (run.memoryFaultFlags() & Kvm.KVM_MEMORY_EXIT_FLAG_PRIVATE) != 0);
            }
            case Kvm.KVM_EXIT_FAIL_ENTRY -> {
                return new Exit.Failure("KVM_EXIT_FAIL_ENTRY, hardware reason 0x" + Long.toHexString(run.failEntryReason()));
            }
            case Kvm.KVM_EXIT_INTERNAL_ERROR -> {
                return new Exit.Failure("KVM_EXIT_INTERNAL_ERROR, suberror " + run.internalSuberror() + " at rip 0x"
                        + Long.toHexString(rip.getAsLong()));
            }
            case Kvm.KVM_EXIT_INTR -> {
                return null;
            }
            default -> {
                return new Exit.Failure("unhandled KVM exit reason " + reason);
            }
        }
    }

    public void complete(long value) {
        switch (awaiting) {
            case 1 -> run.ioData(awaitSize, value);
            case 2 -> run.mmioData(awaitSize, value);
            case 3 -> run.hypercallRet(value);
            default -> { }
        }
        awaiting = 0;
    }

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
}
