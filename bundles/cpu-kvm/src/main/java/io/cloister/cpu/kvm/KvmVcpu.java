package io.cloister.cpu.kvm;

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
    private final VcpuFd fd;
    private final KvmRun run;
    private final KvmExits exits;
    private volatile boolean exitRequested;
    /** The kernel thread id running this vCPU, or 0 when it is not in run(). */
    private volatile int tid;
    private volatile boolean closed;

    KvmVcpu(KvmVm vm, VcpuFd fd, int index, long entry, long startInfo, Cpuid cpuid) {
        this.vm = vm;
        this.index = index;
        this.fd = fd;
        this.run = fd.kvmRun;
        this.exits = new KvmExits(run, () -> fd.getRegs().rip());
        try {
            Sys.installKickHandler();
            fd.setCpuid2(cpuid);
            fd.setSregs(pvhEntry(fd.getSregs()));
            fd.setRegs(new Regs().rip(entry).rbx(startInfo).rflags(2));
        } catch (RuntimeException | Error e) {
            fd.close();
            throw e;
        }
    }

    /**
     * The PVH boot state: 32-bit protected mode, paging off, flat 4 GiB code and data segments
     * (selectors 0x08 and 0x10), a minimal TSS and LDT; the rest as KVM has it.
     */
    static Sregs pvhEntry(Sregs sregs) {
        sregs.set(Sregs.Seg.CS, flat(0x08, 0xb));
        for (Sregs.Seg s : new Sregs.Seg[] {Sregs.Seg.DS, Sregs.Seg.ES, Sregs.Seg.FS, Sregs.Seg.GS, Sregs.Seg.SS}) {
            sregs.set(s, flat(0x10, 0x3));
        }
        sregs.set(Sregs.Seg.TR, system(0x67, 0x18, 0xb)); // busy 32-bit TSS
        sregs.set(Sregs.Seg.LDT, system(0xffff, 0, 0x2));
        return sregs.cr0(0x11).cr3(0).cr4(0).efer(0); // PE, ET
    }

    /** A present, 32-bit, page-granular code or data segment over the whole 4 GiB. */
    private static Sregs.Segment flat(int selector, int type) {
        return new Sregs.Segment(0, 0xffffffff, selector, type, true, 0, true, true, false, true, false, false);
    }

    /** A present system segment (TSS, LDT) at 0 with a byte-granular limit. */
    private static Sregs.Segment system(int limit, int selector, int type) {
        return new Sregs.Segment(0, limit, selector, type, true, 0, false, false, false, false, false, false);
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
                run.immediateExit(false);
                return INTERRUPTED;
            }
            int reason;
            try {
                reason = fd.run();
            } catch (Sys.SysException e) {
                if (e.errno == 4) { // EINTR: immediate_exit or a signal
                    continue;
                }
                return new Exit.Failure(e.getMessage());
            }
            Exit exit = exits.exit(reason);
            if (exit != null) {
                return exit;
            }
        }
    }

    @Override
    public void complete(long value) {
        exits.complete(value);
    }

    @Override
    public java.util.Map<String, Long> registers() {
        java.util.Map<String, Long> m = fd.getRegs().asMap();
        Sregs sregs = fd.getSregs();
        m.put("cr0", sregs.cr0());
        m.put("cr3", sregs.cr3());
        m.put("cr4", sregs.cr4());
        m.put("efer", sregs.efer());
        return m;
    }

    @Override
    public long instructions() {
        return -1;
    }

    private static final Exit.Interrupted INTERRUPTED = new Exit.Interrupted();

    /**
     * immediate_exit makes the next KVM_RUN return at once; the kick signal interrupts one that
     * is running (it fails with EINTR), so even a guest that never exits comes out.
     */
    @Override
    public void requestExit() {
        exitRequested = true;
        if (closed) {
            return; // nothing runs any more (and kvm_run is unmapped)
        }
        try {
            run.immediateExit(true);
        } catch (IllegalStateException e) {
            return; // closed meanwhile: kvm_run unmapped, nothing to kick
        }
        int t = tid;
        if (t != 0) {
            Sys.kick(t);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        fd.close();
        vm.vcpuClosed();
    }
}
