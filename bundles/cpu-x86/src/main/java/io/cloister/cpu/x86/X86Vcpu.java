package io.cloister.cpu.x86;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.cpu.Vcpu;
import io.cloister.api.memory.GuestView;

/**
 * One x86-64 vCPU. It translates addresses through 4-level paging with a software TLB, and
 * reaches guest RAM (the slot at guest-physical 0) directly; other slots and MMIO go through the
 * guest view and exits. Faults are delivered through the guest's IDT; a fault while delivering
 * one ends the VM (triple fault). When a translation is filled, the access kind (private or
 * shared, from the C-bit or the TDX shared bit) is checked against the page's state, and the
 * backend says whether the guest may use the page yet (SNP validation, TDX accept).
 *
 * Three ways to run an instruction, same semantics: {@link #step} decodes from guest memory each
 * time (the reference, checked against the host CPU); the decoded path runs the common forms from
 * a per-physical-page cache of {@link Insn} with lazy flags; and a run of decoded instructions that
 * stays hot is compiled to bytecode ({@link BlockCompiler}). vCPU writes into decoded bytes drop the
 * page's entries; conversions drop them all.
 *
 * Several vCPUs of a VM run on their own threads over the same RAM: locked read-modify-writes are
 * compare-and-set on it, and what one vCPU writes into code the others drop at their next
 * serializing point ({@link CodeMap}).
 *
 * An AP created to wait for its start-up IPI ({@link #waitForStartup}) sits in wait-for-SIPI
 * state: INIT puts it there, a SIPI starts it in real mode at vector * 4096 ({@link RealMode}).
 * Real mode and 16-bit code run in the interpreter only.
 *
 * Not yet: SMM, virtual-8086 mode, interrupts in 16/32-bit protected mode. Device DMA reaches the
 * decoded cache through {@link #memoryWritten}.
 *
 * The code is split by concern over a chain of package-private classes, this one at the top (see
 * {@link CpuState}); this one holds the {@link Vcpu} side: the run loop, whose inner loop is the
 * instruction boundary, and the answers to exits.
 */
final class X86Vcpu extends DecodedPath implements Vcpu {
    /** Set by another thread ({@link #requestExit}): run() returns before the next slice. */
    private volatile boolean exitRequested;
    /**
     * Deterministic time (set by the engine's VM before the vCPU runs), or null. Its deadline is
     * checked where interrupts are (at each boundary of the inner loop: one instruction or one
     * compiled block), so a timer fires at the same instruction in every run.
     */
    io.cloister.api.cpu.InstructionClock icount;

    X86Vcpu(int index, GuestView view, X86Engine.Model model, CocoCpu coco, long entry, long startInfo) {
        this(index, view, model, coco, entry, startInfo, true);
    }

    X86Vcpu(int index, GuestView view, X86Engine.Model model, CocoCpu coco, long entry, long startInfo, boolean decodedCache) {
        this(index, view, model, coco, entry, startInfo, decodedCache, CodeMap.forView(view));
    }

    X86Vcpu(int index, GuestView view, X86Engine.Model model, CocoCpu coco, long entry, long startInfo, boolean decodedCache,
            CodeMap codeMap) {
        super(new Wiring(index, view, model, coco, decodedCache, codeMap));
        // PVH: 32-bit protected mode, paging off, flat segments, %ebx = start_info.
        rip = entry;
        r[RBX] = startInfo;
        view.addInvalidationListener(flushOnChange);
        refreshRam();
    }

    /** An AP that waits for INIT and a start-up IPI (the VMM's way of creating the vCPUs Linux starts itself). */
    void waitForStartup() {
        initState();
        halted = true;
        apic.waitForStartup();
    }

    /** A start at a 32-bit entry asked for by another thread while this AP waits for SIPI: {entry, startInfo}, taken by the vCPU's own thread. */
    private volatile long[] startRequest;

    /**
     * Starts this AP, waiting for SIPI, at a PVH-style 32-bit entry instead (the VMM's START_VCPU);
     * its own thread takes the request at its next boundary. False if it is not waiting.
     */
    boolean requestStart(long entry, long startInfo) {
        if (apic == null || !apic.waitingForStartup() || startRequest != null) {
            return false;
        }
        startRequest = new long[] {entry, startInfo};
        apic.kick();
        return true;
    }

    @Override
    public int index() {
        return index;
    }

    @Override
    public void requestExit() {
        exitRequested = true;
        io.cloister.cpu.x86.apic.LocalApic a = apic;
        if (a != null) {
            a.kick(); // out of HLT's wait
        }
    }

    @Override
    public void complete(long value) {
        Awaiting a = awaiting;
        awaiting = null;
        switch (a) {
            case null -> { }
            case Awaiting.PortIn(int size) -> setReg(RAX, size, value);
            case Awaiting.Hypercall() -> r[RAX] = value;
            case Awaiting.DeviceRead(int entry) -> accesses.answer(entry, value);
            case Awaiting.TdxMapGpa() -> {
                r[RAX] = 0;
                r[10] = value == 0 ? 0 : TDVMCALL_INVALID_OPERAND;
            }
            case Awaiting.TdxAccept() -> r[RAX] = value == 0 ? 0 : TDX_OPERAND_INVALID;
            case Awaiting.SnpValidate() -> {
                setReg(RAX, 4, value == 0 ? 0 : PVALIDATE_FAIL_INPUT);
                flushTlb(); // a rescinded page may still be cached as usable
            }
            case Awaiting.GhcbPageStateChange() -> ghcbMsr = GHCB_PSC_RESPONSE | (value == 0 ? 0 : 1L << 32); // error code in bits 63:32
        }
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(X86Vcpu.class);
    /** Whether close() logs where the instructions retired (benchmarks/linux-boot asks for it). */
    private static final boolean STATS = Boolean.getBoolean("cloister.x86.stats");

    /** Where the guest-side profile goes (cloister.x86.ripSamples, a file name to which the vCPU's index is added), or null. */
    String ripSamples = System.getProperty("cloister.x86.ripSamples");
    private RipSampler sampler;

    @Override
    public void close() {
        view.removeInvalidationListener(flushOnChange);
        if (sampler != null) {
            try {
                sampler.close();
            } catch (java.io.IOException | InterruptedException e) {
                LOG.warn("vCPU {}: the rip samples were not written: {}", index, e.toString());
            }
            sampler = null;
        }
        if (STATS) {
            LOG.info("vCPU {}: {}", index, statistics());
        }
    }

    /** Where the instructions retired: compiled blocks, the decoded path's traces, the interpreter alone; and the dispatches of each path. */
    String statistics() {
        long other = retired - compiledRetired - decodedRetired;
        return String.format(java.util.Locale.ROOT, "%,d instructions: %s compiled, %s decoded, %s interpreted; %d blocks compiled;"
                + " %,d block runs, %,d traces; %,d loops; %,d native misses", retired, share(compiledRetired), share(decodedRetired), share(other),
                blocksInstalled, blockRuns, tracesRun, loopsRun, nativeMisses);
    }

    private String share(long n) {
        return String.format(java.util.Locale.ROOT, "%.1f %%", retired == 0 ? 0.0 : 100.0 * n / retired);
    }

    static final String[] NAMES = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
        "r14", "r15"};

    @Override
    public java.util.Map<String, Long> registers() {
        java.util.Map<String, Long> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < 16; i++) {
            m.put(NAMES[i], r[i]);
        }
        m.put("rip", rip);
        m.put("rflags", flags());
        m.put("cr0", cr0);
        m.put("cr2", cr2);
        m.put("cr3", cr3);
        m.put("cr4", cr4);
        m.put("efer", efer);
        return m;
    }

    @Override
    public long instructions() {
        return retired;
    }

    /** The longest a halted vCPU sleeps before it looks at its exit request again (a kick wakes it at once). */
    private static final long HALT_SLICE_NANOS = 50_000_000;

    /**
     * An instruction boundary at which the APIC has something pending or the vCPU is halted: INIT
     * and SIPI, an NMI, then a maskable interrupt if RFLAGS.IF allows and no STI / MOV SS shadow
     * covers this boundary. A halted vCPU (or an AP waiting for SIPI) blocks in the APIC until it can
     * take something or the VMM kicks it: no spinning. Null: run guest code.
     */
    private Exit interruptBoundary() {
        io.cloister.cpu.x86.apic.LocalApic a = apic;
        while (true) {
            long[] start = startRequest;
            if (start != null) {
                startRequest = null;
                if (a.leaveWaitForStartup()) { // else a SIPI came first
                    pvhState(start[0], start[1]);
                    halted = false;
                    return null;
                }
            }
            boolean ie = (rflags & Flags.IF) != 0 && retired != shadowRetired;
            if (!halted && !ie && !a.urgent) {
                return null; // something maskable waits for IF: not at this boundary
            }
            if (a.takeInit()) {
                if (!a.waitingForStartup()) {
                    halted = true;
                    return new Exit.Shutdown("INIT on the boot vCPU " + index + " (a processor reset), which is not modelled");
                }
                initState(); // the AP's reset: real mode, waiting for SIPI, also across run() calls
                halted = true;
            }
            int sipi = a.takeStartup();
            if (sipi >= 0) {
                startup(sipi); // real mode at CS = vector * 256, IP = 0
                halted = false;
                return null;
            }
            if (!a.waitingForStartup()) {
                if (!nmiBlocked && a.takeNmi()) {
                    nmiBlocked = true;
                    return deliverExternal(VEC_NMI);
                }
                int v = a.takeInterrupt(ie);
                if (v >= 0) {
                    return deliverExternal(v);
                }
                if (!halted) {
                    return null;
                }
            }
            materialize(); // registers exact while it sleeps (the VMM may read them at a safe point)
            if (icount != null && !exitRequested && icount.reached(retired, true)) {
                continue; // time jumped to the next timer, which has fired: look again at what is pending
            }
            io.cloister.cpu.x86.apic.LocalApic.Wake w = a.await(ie, HALT_SLICE_NANOS);
            if (exitRequested || w == io.cloister.cpu.x86.apic.LocalApic.Wake.KICK) {
                exitRequested = false;
                return new Exit.Interrupted(); // still halted: run() waits again when the VMM resumes it
            }
        }
    }

    /** Delivers an external interrupt or NMI through the IDT; the return address is the next instruction. */
    private Exit deliverExternal(int vector) {
        halted = false;
        materialize();
        Exit shutdown = deliver(vector, 0, false);
        if (shutdown != null) {
            return shutdown;
        }
        return pendingExit != null ? takeExit() : null;
    }

    @Override
    public Exit run() {
        if (ripSamples != null) {
            sampler = new RipSampler(this, java.nio.file.Path.of(ripSamples + "." + index));
            ripSamples = null; // once per vCPU
        }
        if (pendingExit != null) {
            return takeExit(); // the rest of what the last instruction reported
        }
        while (true) {
            if (exitRequested) {
                exitRequested = false;
                return new Exit.Interrupted();
            }
            if (tlbFlushRequested) {
                tlbFlushRequested = false;
                flushTlb();
            }
            if (codeFlushRequested) {
                codeFlushRequested = false;
                flushCode();
            }
            syncCode();
            if (view.table().generation() != ramGeneration) {
                refreshRam();
            }
            if (redeliverVector >= 0) {
                int vector = redeliverVector;
                redeliverVector = -1;
                Exit shutdown = deliver(vector, redeliverError, redeliverHasError);
                if (shutdown != null) {
                    return shutdown;
                }
                if (pendingExit != null) {
                    return takeExit();
                }
            }
            // The instruction boundary: each iteration runs one instruction, or up to DecodedPath.CHAIN
            // compiled blocks and traces of them (which leave early on a write to code or MMIO, and look
            // at boundaryDue between them). Interrupts are to be taken here, before the step; rflags' IF
            // is always exact (only arithmetic flags are lazy).
            for (int n = 0; n < 8192; n++) {
                if (deadlineDue()) {
                    icount.reached(retired, false); // its timers may raise lines: taken just below
                }
                if (interruptDue()) {
                    Exit e = interruptBoundary();
                    if (e != null) {
                        return e;
                    }
                }
                try {
                    if (decodable()) {
                        stepDecoded();
                    } else {
                        step();
                    }
                } catch (Fault f) {
                    unwindBlock();
                    materialize();
                    accesses.clear(); // the instruction is abandoned: a rerun after the handler reads afresh
                    Exit shutdown = deliver(f.vector, f.error, f.hasError);
                    if (shutdown != null) {
                        return shutdown;
                    }
                } catch (Retry again) {
                    unwindBlock();
                    materialize();
                    accesses.rewind();
                    return takeExit();
                }
                if (pendingExit != null) {
                    materialize();
                    return takeExit();
                }
            }
            materialize(); // rflags exact whenever run() may return
        }
    }

    /** One volatile read when nothing is due. */
    private boolean interruptDue() {
        return apic != null && (halted || apic.pending);
    }

    /** The instruction clock's next deadline is reached: its timers may raise lines. */
    private boolean deadlineDue() {
        return icount != null && retired >= icount.nextDeadline();
    }

    /** A native block's context (NativeBlock.CTX_*). */
    final long[] nativeCtx = new long[NativeBlock.CTX_SIZE];

    private long jumpsEpoch = -1;

    /** The native blocks' jump table (NativeBlock.JUMPS), made at first use and emptied when jumpGen's upper bits move. */
    long[] jumps() {
        long epoch = jumpGen >>> 15; // jumpTag keeps 15 bits of it
        if (jumps == null || epoch != jumpsEpoch) {
            if (jumps == null) {
                jumps = new long[2 * NativeBlock.JUMPS];
                jumpExit = NativeCode.exit();
            }
            long exit = jumpExit;
            for (int i = 0; i < jumps.length; i += 2) {
                jumps[i] = 0;
                jumps[i + 1] = exit; // a tag of 0 matches only rip 0 at a jumpGen of 0 at CPL 0: it leads to the plain return
            }
            jumpsEpoch = epoch;
        }
        return jumps;
    }

    /**
     * The back edges and chain hops a native run may take: as many as a compiled block's loop
     * (runBlock's loops), fewer where the instruction clock's next deadline comes sooner, so that
     * its timers are looked at no later than a bytecode block's back edge would. Between two, a
     * run completes at most one region's instructions (BlockCompiler.MAX + Region.CLOSE).
     */
    long nativeBudget() {
        long budget = loopLeft - 1; // runBlock's loops: LOOP_MAX, or 1 for a test's single pass
        if (icount != null) {
            long left = icount.nextDeadline() - retired;
            budget = Math.max(0, Math.min(budget, left / (BlockCompiler.MAX + Region.CLOSE)));
        }
        return budget;
    }

    @Override
    boolean boundaryDue() {
        return deadlineDue() || interruptDue();
    }

    @Override
    boolean requestDue() {
        return exitRequested || tlbFlushRequested || codeFlushRequested || codeEpochChanged();
    }

    /** For tests: whether an instruction left an exit pending. */
    boolean hasPendingExit() {
        return pendingExit != null;
    }

    /** For tests: the exit an instruction left pending (MMIO, IO, halt), cleared. */
    Exit takePendingExit() {
        Exit e = pendingExit;
        pendingExit = null;
        moreExits.clear();
        awaiting = null;
        accesses.clear();
        return e;
    }
}
