package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Flags.AF;
import static io.cloister.cpu.x86.Flags.CF;
import static io.cloister.cpu.x86.Flags.DF;
import static io.cloister.cpu.x86.Flags.IF;
import static io.cloister.cpu.x86.Flags.OF;
import static io.cloister.cpu.x86.Flags.PF;
import static io.cloister.cpu.x86.Flags.SF;
import static io.cloister.cpu.x86.Flags.TF;
import static io.cloister.cpu.x86.Flags.ZF;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.math.BigInteger;

import io.cloister.api.backend.GuestRequest;
import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.cpu.Vcpu;
import io.cloister.api.memory.Access;
import io.cloister.api.memory.GuestView;
import io.cloister.api.memory.MemSlot;
import io.cloister.api.restricted.InvalidationListener;
import io.cloister.api.restricted.PageState;

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
 * Not yet: SMM, real-mode and 16-bit addressing, x87/SSE, interrupts from devices. Device DMA
 * reaches the decoded cache through {@link #memoryWritten}.
 */
final class X86Vcpu implements Vcpu {
    // Control register bits
    static final long CR0_PE = 1;
    /** Extension type: hardwired to one since the 486. */
    static final long CR0_ET = 1L << 4;
    static final long CR0_WP = 1L << 16;
    static final long CR0_PG = 1L << 31;
    static final long CR4_PAE = 1L << 5;
    static final long EFER_LME = 1L << 8;
    static final long EFER_LMA = 1L << 10;
    static final long EFER_NXE = 1L << 11;
    static final long PTE_P = 1;
    static final long PTE_W = 2;
    static final long PTE_A = 1L << 5;
    static final long PTE_D = 1L << 6;
    static final long PTE_PS = 1L << 7;
    static final long PTE_NX = 1L << 63;
    static final long PTE_ADDR = 0x000ffffffffff000L;
    /** Address bits 51:48 of an entry: reserved, MAXPHYADDR being 48 (CPUID 0x80000008). */
    static final long PTE_RESERVED = 0x000f000000000000L;
    static final int PF_RSVD = 8;

    static final int RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;
    static final int READ = 0, WRITE = 1, FETCH = 2;
    static final int TLB = 256;
    static final int SEG_NONE = 0, SEG_FS = 1, SEG_GS = 2;

    static final int VEC_DE = 0, VEC_BP = 3, VEC_UD = 6, VEC_DF = 8, VEC_NP = 11, VEC_GP = 13, VEC_PF = 14;

    /** A fault to deliver to the guest; one instance per vCPU, without a stack trace. */
    static final class Fault extends RuntimeException {
        private static final long serialVersionUID = 1L;
        int vector;
        long error;
        boolean hasError;

        Fault() {
            super(null, null, false, false);
        }
    }

    /** Unwinds an instruction whose MMIO read must be answered by the VMM first. */
    static final class Retry extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Retry() {
            super(null, null, false, false);
        }
    }

    private final Fault fault = new Fault();
    private final Retry retry = new Retry();
    private final int index;
    private final GuestView view;
    private final X86Engine.Model model;
    private final CocoCpu coco;

    // Architectural state
    final long[] r = new long[16];
    long rip;
    long rflags = Flags.FIXED;
    long cr0 = CR0_PE | CR0_ET;
    long cr2;
    long cr3;
    long cr4;
    long efer;
    long gdtBase;
    long idtBase;
    int gdtLimit;
    int idtLimit = -1;
    int cs = 0x08;
    final int[] sreg = new int[6];
    boolean code64;
    long fsBase;
    long gsBase;
    long kernelGsBase;
    private final long tscOffset = System.nanoTime();

    // Guest RAM: the slot at gpa 0, reached directly
    private MemorySegment ram;
    private long ramSize;
    private long ramGeneration = -1;

    // Software TLB, one direct-mapped table per access kind: tag = vpn + 1, value = physical page
    private final long[] tlbTag = new long[TLB * 3];
    private final long[] tlbPhys = new long[TLB * 3];
    private volatile boolean tlbFlushRequested;
    private final InvalidationListener flushOnChange = (binding, gpa, length, change) -> {
        tlbFlushRequested = true;
        codeFlushRequested = true; // a conversion may destroy or replace the bytes
    };

    // Decoded-instruction cache: per physical RAM page, the instructions decoded at each offset.
    // Invariant: every 64-byte chunk holding bytes of a decoded entry has its bit in the VM's
    // CodeMap, and a write touching such a chunk drops the writer's entries for the page at once
    // (codeWritten) and the other vCPUs' at their next serializing point (syncCode), so an entry
    // matches the bytes in RAM whenever x86 says it must. Data next to code costs nothing.
    private final boolean decodedCache;
    private CodePages codePages = new CodePages(0);
    private final CodeMap codeMap;
    private long seenEpoch;
    private volatile boolean codeFlushRequested;
    private Insn[] codePage;
    private long codePageLin = -1;
    private long codePagePhys;

    // Lazy arithmetic flags of the decoded path: the last ADD, SUB/CMP or logic operation, whose
    // flags are computed only when read. LAZY_NONE means rflags holds them; everything outside
    // the decoded path sees exact rflags (materialize() runs before it).
    static final int LAZY_NONE = 0, LAZY_ADD = 1, LAZY_SUB = 2, LAZY_LOGIC = 3, LAZY_INC = 4, LAZY_DEC = 5, LAZY_SHIFT = 6;
    private int lazyOp;
    private long lazyA;
    private long lazyB;
    private long lazyRes;
    private int lazySize;

    // Compiled blocks (BlockCompiler): pos counts the instructions a block completed; blockStop
    // ends a block after a write that hit code or MMIO.
    int compileThreshold = 256; // runs of a decoded instruction before its block is compiled
    int pos;
    boolean blockStop;
    private Block currentBlock;
    private long blockRip;

    // Per-instruction decode state
    private long ip;
    private int opsize;
    private int adsize;
    boolean rexPresent;
    private int rexW;
    private int rexR;
    private int rexX;
    private int rexB;
    private int rep;
    private int seg;
    private int modReg;
    private boolean modIsReg;
    private int modRm;
    private long ea;

    // Exits
    private volatile boolean exitRequested;
    private Exit pendingExit;
    /** Exits an instruction reported beyond the first (an MMIO write, then a read it must wait for): returned in order. */
    private final java.util.ArrayDeque<Exit> moreExits = new java.util.ArrayDeque<>();
    /** Where the VMM's answer to the exit reported last goes; null: nowhere. */
    private Awaiting awaiting;
    /** The device accesses of the instruction being run, replayed when it runs again after an exit. */
    private final AccessLog accesses = new AccessLog();
    /** An exception whose delivery waited for the VMM (its gate or stack in MMIO, a page to convert): delivered again first. */
    private int redeliverVector = -1;
    private long redeliverError;
    private boolean redeliverHasError;
    long retired;

    private final MemorySegment scratch = Arena.ofAuto().allocate(8, 8);

    X86Vcpu(int index, GuestView view, X86Engine.Model model, CocoCpu coco, long entry, long startInfo) {
        this(index, view, model, coco, entry, startInfo, true);
    }

    X86Vcpu(int index, GuestView view, X86Engine.Model model, CocoCpu coco, long entry, long startInfo, boolean decodedCache) {
        this(index, view, model, coco, entry, startInfo, decodedCache, CodeMap.forView(view));
    }

    X86Vcpu(int index, GuestView view, X86Engine.Model model, CocoCpu coco, long entry, long startInfo, boolean decodedCache,
            CodeMap codeMap) {
        this.decodedCache = decodedCache;
        this.codeMap = codeMap;
        codeMap.vcpus.incrementAndGet();
        seenEpoch = codeMap.epoch.get();
        this.index = index;
        this.view = view;
        this.model = model;
        this.coco = coco;
        // PVH: 32-bit protected mode, paging off, flat segments, %ebx = start_info.
        rip = entry;
        r[RBX] = startInfo;
        view.addInvalidationListener(flushOnChange);
        refreshRam();
    }

    @Override
    public int index() {
        return index;
    }

    private void refreshRam() {
        long gen = view.table().generation();
        if (gen == ramGeneration) {
            return;
        }
        MemSlot slot = view.table().slotAt(0);
        ram = slot == null ? null : view.guestSegment(slot.id());
        ramSize = ram == null ? 0 : slot.size();
        ramGeneration = gen;
        flushTlb();
        codePages = new CodePages(Math.min(ramSize, codeMap.coveredBytes())); // only what the code map covers is cached
    }

    void flushTlb() {
        java.util.Arrays.fill(tlbTag, 0);
        codeLin = -1;
        codePageLin = -1;
    }

    private void flushCode() {
        codePages.clear();
        codePageLin = -1; // the chunk bits stay: a later write there only drops an empty page
    }

    /** A serializing point: code another vCPU wrote since the last one must be decoded afresh. */
    private void syncCode() {
        long e = codeMap.epoch.get();
        if (e != seenEpoch) {
            seenEpoch = e;
            flushCode();
        }
    }

    /**
     * A write into RAM: if it touches decoded bytes, this vCPU's entries for the page are dropped
     * and decoded again when run, and the epoch tells the other vCPUs.
     */
    private void codeWritten(long pa, int size) {
        long pfn = pa >>> 12;
        if ((codeMap.bitsPlain(pfn) & CodeMap.bits(pa, size)) != 0) {
            codePages.drop(pfn);
            blockStop = true;
            if (codePagePhys >>> 12 == pfn) {
                codePageLin = -1;
            }
            if (codeMap.vcpus.get() == 1) {
                codeMap.clearPlain(pfn); // the only holder dropped them
            } else {
                long prev = codeMap.epoch.getAndIncrement();
                if (prev == seenEpoch) {
                    seenEpoch = prev + 1; // our own write: nothing more to drop here
                }
            }
        }
    }

    @Override
    public void requestExit() {
        exitRequested = true;
    }

    /** DMA into RAM: if it touched decoded code, every vCPU of the VM drops its decoded code before running again. */
    void memoryWritten(long gpa, long length) {
        for (long pa = gpa & ~0xfffL; pa < gpa + length; pa += 4096) {
            long from = Math.max(pa, gpa);
            long to = Math.min(pa + 4096, gpa + length);
            if (pa >= 0 && to > from && (codeMap.bits(pa >>> 12) & CodeMap.bits(from, to - from)) != 0) {
                codeMap.epoch.incrementAndGet(); // every vCPU, this one included, syncs at its next slice
                return;
            }
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

    @Override
    public void close() {
        view.removeInvalidationListener(flushOnChange);
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

    @Override
    public Exit run() {
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
            for (int n = 0; n < 8192; n++) {
                try {
                    if (decodedCache) {
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

    /** The first exit the last instruction reported; the next one, if any, waits for the next run(). */
    private Exit takeExit() {
        Exit e = pendingExit;
        pendingExit = moreExits.poll();
        return e;
    }

    /** An exit after (or, for a read, instead of the end of) this instruction; several are returned in order. */
    private void report(Exit e) {
        if (pendingExit == null) {
            pendingExit = e;
        } else {
            moreExits.add(e);
        }
    }

    // ---------------------------------------------------------------- faults

    private Fault fault(int vector) {
        fault.vector = vector;
        fault.hasError = false;
        fault.error = 0;
        return fault;
    }

    private Fault fault(int vector, long error) {
        fault.vector = vector;
        fault.hasError = true;
        fault.error = error;
        return fault;
    }

    /**
     * Whether the processor pushes an error code for an exception (SDM vol. 3, table 6-1: #DF,
     * #TS, #NP, #SS, #GP, #PF, #AC, #CP; AMD's #VC and #SX). #VE (20) pushes none.
     */
    static boolean pushesErrorCode(int vector) {
        return switch (vector) {
            case 8, 10, 11, 12, 13, 14, 17, 21, 29, 30 -> true;
            default -> false;
        };
    }

    private Fault ud() {
        return fault(VEC_UD);
    }

    /**
     * Delivers an exception through the 64-bit IDT; returns a Shutdown exit for a triple fault.
     * The faulting instruction's RIP is pushed, so the handler may retry it.
     */
    private Exit deliver(int vector, long error, boolean hasError) {
        for (int depth = 0; depth < 3; depth++) {
            try {
                interrupt(vector, error, hasError, rip);
                accesses.clear();
                return null;
            } catch (Fault f) {
                accesses.clear();
                if (depth == 0 && vector != VEC_DF) {
                    vector = VEC_DF;
                    error = 0;
                    hasError = true;
                } else {
                    break;
                }
            } catch (Retry r) {
                // The gate or the stack needs the VMM: deliver again once it answered, replaying what it did.
                accesses.rewind();
                redeliverVector = vector;
                redeliverError = error;
                redeliverHasError = hasError;
                return null;
            }
        }
        return new Exit.Shutdown(String.format("triple fault at rip 0x%x (exception %d, error 0x%x)", rip, fault.vector, fault.error));
    }

    /** Enters the IDT gate for {@code vector}, returning to {@code returnRip}. */
    private void interrupt(int vector, long error, boolean hasError, long returnRip) {
        if ((efer & EFER_LMA) == 0 || vector * 16 + 15 > idtLimit) {
            throw fault(VEC_GP, vector * 8 + 2);
        }
        long gate = idtBase + vector * 16L;
        long lo = rd(gate, 8);
        long hi = rd(gate + 8, 8);
        if ((lo & (1L << 47)) == 0) {
            throw fault(VEC_GP, vector * 8 + 2);
        }
        long target = (lo & 0xffff) | ((lo >>> 32) & 0xffff0000L) | (hi << 32);
        int selector = (int) ((lo >>> 16) & 0xffff);
        int type = (int) ((lo >>> 40) & 0xf);
        long sp = r[RSP] & ~0xfL;
        long[] frame = {sreg[2], r[RSP], flags(), cs, returnRip};
        for (long v : frame) {
            sp -= 8;
            wr(sp, 8, v);
        }
        if (hasError) {
            sp -= 8;
            wr(sp, 8, error);
        }
        r[RSP] = sp;
        if (type == 0xe) {
            rflags &= ~IF;
        }
        rflags &= ~TF;
        cs = selector;
        code64 = true;
        rip = target;
    }

    long flags() {
        return rflags | Flags.FIXED;
    }

    // ---------------------------------------------------------------- memory

    private long translate(long la, int kind) {
        if ((cr0 & CR0_PG) == 0) {
            return la & 0xffffffffL;
        }
        long vpn = la >>> 12;
        int slot = (int) (vpn & (TLB - 1)) + kind * TLB;
        if (tlbTag[slot] == vpn + 1) {
            return tlbPhys[slot] | (la & 0xfff);
        }
        return walk(la, kind, slot);
    }

    private long walk(long la, int kind, int slot) {
        if ((efer & EFER_LMA) == 0) {
            throw new IllegalStateException("32-bit paging without long mode is not supported");
        }
        if ((la << 16 >> 16) != la) {
            throw fault(VEC_GP, 0); // non-canonical
        }
        long cbit = sevCbit(); // never part of an address under SEV/SNP
        long addr = PTE_ADDR & ~cbit;
        long table = cr3 & addr;
        boolean writable = true;
        boolean noExec = false;
        long pageBase = 0;
        long leafEntry = 0;
        for (int level = 3; level >= 0; level--) {
            long entryAddr = table + ((la >>> (12 + 9 * level)) & 511) * 8;
            long e = physRead(entryAddr, 8);
            if ((e & PTE_P) == 0) {
                cr2 = la;
                throw fault(VEC_PF, (kind == WRITE ? 2 : 0) | (kind == FETCH ? 0x10 : 0));
            }
            if ((e & PTE_RESERVED & ~cbit) != 0) {
                // Above MAXPHYADDR: an entry read from memory nobody backs (all-ones) ends here, as on hardware.
                cr2 = la;
                throw fault(VEC_PF, PF_RSVD | 1 | (kind == WRITE ? 2 : 0) | (kind == FETCH ? 0x10 : 0));
            }
            writable &= (e & PTE_W) != 0;
            noExec |= (e & PTE_NX) != 0 && (efer & EFER_NXE) != 0;
            boolean leaf = level == 0 || (level <= 2 && level >= 1 && (e & PTE_PS) != 0);
            long want = e | PTE_A | (leaf && kind == WRITE ? PTE_D : 0);
            if (leaf) {
                if ((kind == WRITE && !writable && (cr0 & CR0_WP) != 0) || (kind == FETCH && noExec)) {
                    cr2 = la;
                    throw fault(VEC_PF, 1 | (kind == WRITE ? 2 : 0) | (kind == FETCH ? 0x10 : 0));
                }
                if (want != e) {
                    physWrite(entryAddr, 8, want);
                }
                long size = 1L << (12 + 9 * level);
                pageBase = (e & addr & ~(size - 1)) | (la & (size - 1) & ~0xfffL);
                leafEntry = e;
                break;
            }
            if (want != e) {
                physWrite(entryAddr, 8, want);
            }
            table = e & addr;
        }
        pageBase = privateSharedCheck(leafEntry, pageBase, cbit);
        if (checkCoco && !coco.mayAccess(pageBase)) {
            // SNP: not validated; TDX: not accepted. The guest gets #VC (with an error code) or
            // #VE (without: its details come from TDG.VP.VEINFO.GET), as the hardware raises them.
            int vector = coco.accessFaultVector();
            throw pushesErrorCode(vector) ? fault(vector, 0) : fault(vector);
        }
        tlbTag[slot] = (la >>> 12) + 1;
        tlbPhys[slot] = pageBase;
        return pageBase | (la & 0xfff);
    }

    /**
     * The confidential-computing meaning of a leaf entry: under SEV/SNP its C-bit says private,
     * under TDX the shared bit (47) of the address says shared; both bits are stripped from the
     * physical address. An access whose kind differs from the page's state is a memory-fault exit
     * (KVM_EXIT_MEMORY_FAULT), and the instruction runs again once the VMM has answered.
     */
    private long privateSharedCheck(long entry, long pageBase, long cbit) {
        boolean privateAccess;
        if (cbit != 0) {
            privateAccess = (entry & cbit) != 0;
        } else if (tdx()) {
            privateAccess = (pageBase & TDX_SHARED_BIT) == 0;
            pageBase &= ~TDX_SHARED_BIT;
        } else {
            return pageBase;
        }
        if (!checkCoco) {
            return pageBase; // PVALIDATE names a page, it does not access it
        }
        PageState state;
        try {
            state = view.state(pageBase);
        } catch (io.cloister.api.CloisterException notRestricted) {
            return pageBase; // MMIO, ROM: no private/shared state
        }
        if ((state == PageState.PRIVATE) != privateAccess) {
            report(new Exit.MemoryFault(pageBase, 4096, privateAccess));
            throw retry;
        }
        return pageBase;
    }

    static final long TDX_SHARED_BIT = 1L << 47;

    /** The C-bit mask under SEV/SNP (CPUID 0x8000001F EBX[5:0]), else 0. */
    private long sevCbit() {
        int[] sev = coco.cpuid(0x8000001f, 0);
        return sev == null || (sev[0] & 2) == 0 ? 0 : 1L << (sev[1] & 63);
    }

    long physRead(long pa, int size) {
        if (pa >= 0 && pa + size <= ramSize) {
            long v = switch (size) {
                case 1 -> ram.get(ValueLayout.JAVA_BYTE, pa) & 0xffL;
                case 2 -> ram.get(ValueLayout.JAVA_SHORT_UNALIGNED, pa) & 0xffffL;
                case 4 -> ram.get(ValueLayout.JAVA_INT_UNALIGNED, pa) & 0xffffffffL;
                default -> ram.get(ValueLayout.JAVA_LONG_UNALIGNED, pa);
            };
            // x86 orders a load before later loads and stores (TSO); keep the JIT from moving them.
            VarHandle.acquireFence();
            return v;
        }
        return deviceRead(pa, size);
    }

    /**
     * A read outside RAM: another slot through the view, else the VMM answers (MMIO, and memory
     * nobody backs: the VMM's bus answers all-ones there, as a PC's does). The instruction
     * unwinds and runs again once answered, replaying the answers it already has ({@link AccessLog}).
     */
    private long deviceRead(long pa, int size) {
        int kind = AccessLog.kind(AccessLog.MMIO_READ, size);
        int i = ownAccesses().find(pa, kind);
        if (i >= 0 && accesses.answered(i)) {
            return accesses.value(i) & Flags.mask(size);
        }
        scratch.fill((byte) 0);
        Access a = view.read(pa, scratch.asSlice(0, size), PageState.SHARED);
        if (a == Access.OK) {
            return scratch.get(ValueLayout.JAVA_LONG, 0) & Flags.mask(size);
        }
        if (a == Access.MEMORY_FAULT) {
            report(new Exit.MemoryFault(pa & ~0xfffL, 4096, false));
            throw retry;
        }
        return awaitAnswer(i, pa, kind, new Exit.Mmio(pa, size, false, 0));
    }

    /** A port read whose value the instruction uses further (INS): answered like an MMIO read. */
    private long portRead(int port, int size) {
        int kind = AccessLog.kind(AccessLog.PORT_READ, size);
        int i = ownAccesses().find(port, kind);
        if (i >= 0 && accesses.answered(i)) {
            return accesses.value(i) & Flags.mask(size);
        }
        return awaitAnswer(i, port, kind, new Exit.Io(port, size, false, 0));
    }

    /** Exits for a read the VMM answers through complete(); the instruction runs again then. */
    private long awaitAnswer(int entry, long address, int kind, Exit exit) {
        if (entry < 0) {
            entry = accesses.add(address, kind);
            if (entry < 0) {
                report(new Exit.Failure(String.format("the instruction at rip 0x%x makes more than %d device accesses", rip,
                        AccessLog.LIMIT)));
                throw retry;
            }
        }
        awaiting = new Awaiting.DeviceRead(entry);
        report(exit);
        throw retry;
    }

    /** The access log, emptied if it belonged to an instruction before this one. */
    private AccessLog ownAccesses() {
        Block b = currentBlock;
        if (b == null) {
            accesses.own(retired, rip);
        } else {
            long at = blockRip + b.offsets[pos];
            accesses.own(retired + pos, code64 ? at : at & 0xffffffffL);
        }
        return accesses;
    }

    void physWrite(long pa, int size, long v) {
        if (pa >= 0 && pa + size <= ramSize) {
            VarHandle.releaseFence(); // x86 orders a store after earlier loads and stores (TSO)
            switch (size) {
                case 1 -> ram.set(ValueLayout.JAVA_BYTE, pa, (byte) v);
                case 2 -> ram.set(ValueLayout.JAVA_SHORT_UNALIGNED, pa, (short) v);
                case 4 -> ram.set(ValueLayout.JAVA_INT_UNALIGNED, pa, (int) v);
                default -> ram.set(ValueLayout.JAVA_LONG_UNALIGNED, pa, v);
            }
            codeWritten(pa, size);
            return;
        }
        scratch.set(ValueLayout.JAVA_LONG, 0, v);
        Access a = view.write(pa, scratch.asSlice(0, size), PageState.SHARED);
        if (a == Access.OK) {
            return;
        }
        if (a == Access.MEMORY_FAULT) {
            report(new Exit.MemoryFault(pa & ~0xfffL, 4096, false));
            throw retry;
        }
        // An MMIO write completes the instruction; the exit is taken after it. Once only: a rerun
        // of the instruction (a later read needed an answer) finds it in the log.
        int kind = AccessLog.kind(AccessLog.MMIO_WRITE, size);
        if (ownAccesses().find(pa, kind) >= 0) {
            return;
        }
        accesses.add(pa, kind);
        report(new Exit.Mmio(pa, size, true, v & Flags.mask(size)));
        blockStop = true;
    }

    long rd(long la, int size) {
        if ((la & 0xfff) + size > 4096) {
            long v = 0;
            for (int i = 0; i < size; i++) {
                v |= physRead(translate(la + i, READ), 1) << (8 * i);
            }
            return v;
        }
        return physRead(translate(la, READ), size);
    }

    void wr(long la, int size, long v) {
        if ((la & 0xfff) + size > 4096) {
            // Translate every byte first: a fault must leave memory unchanged.
            long[] pa = new long[size];
            for (int i = 0; i < size; i++) {
                pa[i] = translate(la + i, WRITE);
            }
            for (int i = 0; i < size; i++) {
                physWrite(pa[i], 1, v >>> (8 * i));
            }
            return;
        }
        physWrite(translate(la, WRITE), size, v);
    }

    /** The code page being executed: its linear base and, when it is RAM, its physical base. */
    private long codeLin = -1;
    private long codePhys;

    private int fetch8() {
        long lin = code64 ? ip : ip & 0xffffffffL;
        if ((lin & ~0xfffL) == codeLin) {
            ip++;
            return ram.get(ValueLayout.JAVA_BYTE, codePhys | (lin & 0xfff)) & 0xff;
        }
        long pa = translate(lin, FETCH);
        ip++;
        if (pa >= 0 && (pa | 0xfff) < ramSize) {
            codeLin = lin & ~0xfffL;
            codePhys = pa & ~0xfffL;
        }
        return (int) physRead(pa, 1);
    }

    private long fetch(int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (long) fetch8() << (8 * i);
        }
        return v;
    }

    /** A signed immediate of {@code size} bytes (at most 4), sign-extended. */
    private long imm(int size) {
        return Flags.sext(fetch(size), size);
    }

    // ---------------------------------------------------------------- registers

    long getReg(int reg, int size) {
        if (size == 1) {
            if (!rexPresent && reg >= 4 && reg < 8) {
                return (r[reg - 4] >>> 8) & 0xff;
            }
            return r[reg] & 0xff;
        }
        return size == 8 ? r[reg] : r[reg] & Flags.mask(size);
    }

    void setReg(int reg, int size, long v) {
        switch (size) {
            case 1 -> {
                if (!rexPresent && reg >= 4 && reg < 8) {
                    r[reg - 4] = (r[reg - 4] & ~0xff00L) | ((v & 0xff) << 8);
                } else {
                    r[reg] = (r[reg] & ~0xffL) | (v & 0xff);
                }
            }
            case 2 -> r[reg] = (r[reg] & ~0xffffL) | (v & 0xffff);
            case 4 -> r[reg] = v & 0xffffffffL;
            default -> r[reg] = v;
        }
    }

    // ---------------------------------------------------------------- decoding

    /** Decodes ModRM (and SIB, displacement); {@code immBytes} follow it (for RIP-relative). */
    private void modrm(int immBytes) {
        int b = fetch8();
        int mod = b >>> 6;
        modReg = ((b >>> 3) & 7) | (rexR << 3);
        int rm = b & 7;
        if (mod == 3) {
            modIsReg = true;
            modRm = rm | (rexB << 3);
            return;
        }
        modIsReg = false;
        if (adsize == 2) {
            throw ud(); // 16-bit addressing
        }
        long addr;
        if (rm == 4) {
            int sib = fetch8();
            int scale = sib >>> 6;
            int idx = ((sib >>> 3) & 7) | (rexX << 3);
            int base = (sib & 7) | (rexB << 3);
            if ((sib & 7) == 5 && mod == 0) {
                addr = imm(4);
            } else {
                addr = r[base];
            }
            if (idx != 4) {
                addr += r[idx] << scale;
            }
        } else if (rm == 5 && mod == 0) {
            long disp = imm(4);
            addr = code64 ? ip + immBytes + disp : disp;
        } else {
            addr = r[rm | (rexB << 3)];
        }
        if (mod == 1) {
            addr += imm(1);
        } else if (mod == 2) {
            addr += imm(4);
        }
        if (adsize == 4) {
            addr &= 0xffffffffL;
        }
        ea = addr + segBase();
    }

    private long segBase() {
        return seg == SEG_FS ? fsBase : seg == SEG_GS ? gsBase : 0;
    }

    long rm(int size) {
        if (modIsReg) {
            return getReg(modRm, size);
        }
        return atomic ? lockedRead(ea, size) : rd(ea, size);
    }

    void setRm(int size, long v) {
        if (modIsReg) {
            setReg(modRm, size, v);
        } else if (lockedPa >= 0) {
            lockedWrite(v);
        } else {
            wr(ea, size, v);
        }
    }

    // ---------------------------------------------------------------- locked operations

    /** A preallocated signal: the locked operand changed under us; the instruction runs again. */
    static final class Restart extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Restart() {
            super(null, null, false, false);
        }
    }

    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();
    private final Restart restart = new Restart();
    /** LOCK prefix, XCHG, XADD, CMPXCHG with a memory operand: its read-modify-write is atomic. */
    private boolean atomic;
    private long lockedPa = -1;
    private int lockedSize;
    private long lockedOld;

    /**
     * Reads the operand of a locked instruction. An aligned RAM operand is read atomically and
     * written back by compare-and-set (so other vCPUs' plain stores are never lost); MMIO and split
     * (unaligned) operands take the plain path, as no other vCPU can see them change mid-way here.
     */
    private long lockedRead(long la, int size) {
        if ((la & (size - 1)) != 0) {
            return rd(la, size);
        }
        long pa = translate(la, WRITE); // a locked access needs write permission, also when it fails
        if (pa < 0 || pa + size > ramSize) {
            return physRead(pa, size);
        }
        long v = switch (size) {
            case 8 -> (long) LONG.getVolatile(ram, pa);
            case 4 -> (int) INT.getVolatile(ram, pa) & 0xffffffffL;
            default -> ((int) INT.getVolatile(ram, pa & ~3L) >>> (8 * (pa & 3))) & Flags.mask(size);
        };
        lockedPa = pa;
        lockedSize = size;
        lockedOld = v;
        return v;
    }

    private void lockedWrite(long v) {
        long pa = lockedPa;
        int size = lockedSize;
        boolean done = switch (size) {
            case 8 -> LONG.compareAndSet(ram, pa, lockedOld, v);
            case 4 -> INT.compareAndSet(ram, pa, (int) lockedOld, (int) v);
            default -> {
                long base = pa & ~3L;
                int shift = (int) (8 * (pa & 3));
                int m = (int) Flags.mask(size) << shift;
                while (true) {
                    int cur = (int) INT.getVolatile(ram, base);
                    if ((cur & m) != ((int) lockedOld << shift & m)) {
                        yield false;
                    }
                    if (INT.compareAndSet(ram, base, cur, (cur & ~m) | ((int) v << shift & m))) {
                        yield true; // bytes beside ours may change meanwhile; only ours must not
                    }
                }
            }
        };
        lockedPa = -1;
        if (!done) {
            throw restart;
        }
        codeWritten(pa, size);
    }

    void push(long v, int size) {
        long sp = r[RSP] - size;
        wr(code64 ? sp : sp & 0xffffffffL, size, v);
        r[RSP] = code64 ? sp : (r[RSP] & ~0xffffffffL) | (sp & 0xffffffffL);
    }

    long pop(int size) {
        long sp = r[RSP];
        long v = rd(code64 ? sp : sp & 0xffffffffL, size);
        r[RSP] = sp + size;
        return v;
    }

    /** Stack operand size: 8 in 64-bit mode (2 with 0x66), else the operand size. */
    private int stackSize() {
        return code64 ? (opsize == 2 ? 2 : 8) : opsize;
    }

    boolean cond(int cc) {
        long f = rflags;
        boolean v = switch (cc >>> 1) {
            case 0 -> (f & OF) != 0;
            case 1 -> (f & CF) != 0;
            case 2 -> (f & ZF) != 0;
            case 3 -> (f & (CF | ZF)) != 0;
            case 4 -> (f & SF) != 0;
            case 5 -> (f & PF) != 0;
            case 6 -> ((f & SF) != 0) != ((f & OF) != 0);
            default -> (f & ZF) != 0 || (((f & SF) != 0) != ((f & OF) != 0));
        };
        return (cc & 1) == 0 ? v : !v;
    }

    private void setFlags(long arith) {
        rflags = (rflags & ~Flags.ARITH) | arith;
    }

    /** The eight classic ALU operations; returns the result (CMP's is discarded by the caller). */
    long alu(int op, long a, long b, int size) {
        long m = Flags.mask(size);
        switch (op) {
            case 0 -> {
                setFlags(Flags.add(a, b, 0, size));
                return (a + b) & m;
            }
            case 1 -> {
                long res = (a | b) & m;
                setFlags(Flags.logic(res, size));
                return res;
            }
            case 2 -> {
                long c = rflags & CF;
                setFlags(Flags.add(a, b, c, size));
                return (a + b + c) & m;
            }
            case 3 -> {
                long c = rflags & CF;
                setFlags(Flags.sub(a, b, c, size));
                return (a - b - c) & m;
            }
            case 4 -> {
                long res = a & b & m;
                setFlags(Flags.logic(res, size));
                return res;
            }
            case 5, 7 -> {
                setFlags(Flags.sub(a, b, 0, size));
                return (a - b) & m;
            }
            default -> {
                long res = (a ^ b) & m;
                setFlags(Flags.logic(res, size));
                return res;
            }
        }
    }

    // ---------------------------------------------------------------- execution

    void step() {
        ip = rip;
        opsize = 4;
        adsize = code64 ? 8 : 4;
        rexPresent = false;
        rexW = rexR = rexX = rexB = 0;
        rep = 0;
        seg = SEG_NONE;
        atomic = false;
        lockedPa = -1;
        int op;
        while (true) {
            op = fetch8();
            switch (op) {
                case 0x66 -> opsize = 2;
                case 0x67 -> adsize = code64 ? 4 : 2;
                case 0xf2, 0xf3 -> rep = op;
                case 0xf0 -> atomic = true;
                case 0x2e, 0x3e, 0x26, 0x36 -> { }
                case 0x64 -> seg = SEG_FS;
                case 0x65 -> seg = SEG_GS;
                default -> {
                    if (code64 && (op & 0xf0) == 0x40) {
                        rexPresent = true;
                        rexW = (op >>> 3) & 1;
                        rexR = (op >>> 2) & 1;
                        rexX = (op >>> 1) & 1;
                        rexB = op & 1;
                        op = fetch8();
                        if ((op & 0xf0) == 0x40) {
                            continue; // a later REX replaces an earlier one
                        }
                    }
                    if (rexW == 1) {
                        opsize = 8;
                    }
                    long opIp = ip;
                    long flagsBefore = rflags;
                    int accessMark = accesses.mark();
                    while (true) {
                        try {
                            execute(op);
                            break;
                        } catch (Restart again) {
                            // Another vCPU changed the locked operand between our read and write.
                            ip = opIp;
                            rflags = flagsBefore;
                            lockedPa = -1;
                            accesses.rewindTo(accessMark); // code bytes fetched from MMIO are fetched again
                        }
                    }
                    atomic = false;
                    retired++;
                    rip = ip;
                    return;
                }
            }
        }
    }

    // ---------------------------------------------------------------- decoded path

    /** One instruction through the decoded-instruction cache; forms it lacks run in step(). */
    private void stepDecoded() {
        long lin = code64 ? rip : rip & 0xffffffffL;
        Insn[] page = codePage;
        if ((lin & ~0xfffL) != codePageLin) {
            page = enterCodePage(lin);
            if (page == null) {
                materialize();
                step(); // code outside RAM (ROM, MMIO): never cached
                return;
            }
        }
        int off = (int) (lin & 0xfff);
        Insn in = page[off];
        if (in == null || in.code64 != code64) {
            in = Insn.decode(ram, codePagePhys | off, code64);
            page[off] = in;
            markCode(off, in.len);
        }
        Block b = in.block;
        if (b != null) {
            runBlock(b);
            return;
        }
        if (++in.heat == compileThreshold && in.kind != Insn.GENERIC) {
            b = BlockCompiler.compile(ram, codePagePhys | off, code64, BlockCompiler.MAX);
            if (b != null) {
                in.block = b;
                markCode(off, b.offsets[b.offsets.length - 1]);
                runBlock(b);
                return;
            }
        }
        execDecoded(in);
    }

    /** Writes into these bytes drop the page's entries and blocks (a write never spans pages here). */
    private void markCode(int off, int len) {
        if (len > 0) {
            codeMap.mark(codePagePhys >>> 12, CodeMap.bits(off, len));
        }
    }

    private void runBlock(Block b) {
        blockStop = false;
        pos = 0;
        currentBlock = b;
        blockRip = rip;
        long next = b.run(this, r, rip);
        currentBlock = null;
        retired += pos;
        rip = next;
    }

    /** A fault or exit inside a block: rip and the count resume at the instruction that did not complete. */
    private void unwindBlock() {
        Block b = currentBlock;
        if (b != null) {
            currentBlock = null;
            rip = code64 ? blockRip + b.offsets[pos] : (blockRip + b.offsets[pos]) & 0xffffffffL;
            retired += pos;
        }
    }

    /** For tests: compiles up to {@code max} instructions at rip (paging off) and runs them as a block. */
    void stepCompiledUncached(int max) {
        Block b = BlockCompiler.compile(ram, rip, code64, max);
        if (b == null) {
            step();
            return;
        }
        try {
            runBlock(b);
        } catch (Fault | Retry e) {
            unwindBlock(); // as run() does
            throw e;
        }
    }

    long imulNow(long a, long b, int size) {
        materialize();
        return imul(a, b, size);
    }

    /**
     * SHL/SHR/SAR with lazy flags: CF and OF are known at once (kept in lazyB), ZF/SF/PF come from
     * the result when read. Rotates and a zero count take the exact path.
     */
    long shiftFast(int which, long v, int count, int size) {
        int bits = size * 8;
        count &= size == 8 ? 63 : 31;
        if (count == 0 || which < 4) {
            materialize();
            return shift(which, v, count, size);
        }
        long m = Flags.mask(size);
        long sign = Flags.signBit(size);
        v &= m;
        long res;
        long cf;
        long of;
        switch (which) {
            case 4, 6 -> {
                res = count >= bits ? 0 : (v << count) & m;
                cf = count > bits ? 0 : (v >>> (bits - count)) & 1;
                of = ((res & sign) != 0 ? 1 : 0) ^ cf;
            }
            case 5 -> {
                res = count >= bits ? 0 : v >>> count;
                cf = count > bits ? 0 : (v >>> (count - 1)) & 1;
                of = (v & sign) != 0 ? 1 : 0;
            }
            default -> {
                long sv = Flags.sext(v, size);
                res = (sv >> Math.min(count, bits - 1)) & m;
                cf = (sv >> Math.min(count - 1, bits - 1)) & 1;
                of = 0;
            }
        }
        lazyOp = LAZY_SHIFT;
        lazyB = cf | (count == 1 && of != 0 ? OF : 0); // OF only for a count of 1, as shift() does
        lazyRes = res;
        lazySize = size;
        return res;
    }

    private Insn[] enterCodePage(long lin) {
        long pa = translate(lin, FETCH);
        if (pa < 0 || (pa | 0xfff) >= ramSize) {
            return null;
        }
        Insn[] page = codePages.page(pa >>> 12);
        if (page == null) {
            return null;
        }
        codePage = page;
        codePageLin = lin & ~0xfffL;
        codePagePhys = pa & ~0xfffL;
        return page;
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

    /** For tests: decodes the instruction at rip afresh (paging off) and runs it decoded; flags may stay lazy. */
    void stepDecodedUncached() {
        execDecoded(Insn.decode(ram, rip, code64));
    }

    private void execDecoded(Insn in) {
        long next = rip + in.len;
        int size = in.size;
        rexPresent = in.rex;
        switch (in.kind) {
            case Insn.MOV_STORE -> storeRm(in, size, getReg(in.reg, size), next);
            case Insn.MOV_LOAD -> setReg(in.reg, size, loadRm(in, size, next));
            case Insn.MOV_IMM -> storeRm(in, size, in.imm, next);
            case Insn.ALU_RM_R -> {
                if (in.rm >= 0) {
                    long res = aluFast(in.sub, getReg(in.rm, size), getReg(in.reg, size), size);
                    if (in.sub != 7) {
                        setReg(in.rm, size, res);
                    }
                } else {
                    long ea = in.ea(r, next, segBase(in.seg));
                    long res = aluFast(in.sub, rd(ea, size), getReg(in.reg, size), size);
                    if (in.sub != 7) {
                        wr(ea, size, res);
                    }
                }
            }
            case Insn.ALU_R_RM -> {
                long res = aluFast(in.sub, getReg(in.reg, size), loadRm(in, size, next), size);
                if (in.sub != 7) {
                    setReg(in.reg, size, res);
                }
            }
            case Insn.ALU_RM_IMM -> {
                if (in.rm >= 0) {
                    long res = aluFast(in.sub, getReg(in.rm, size), in.imm, size);
                    if (in.sub != 7) {
                        setReg(in.rm, size, res);
                    }
                } else {
                    long ea = in.ea(r, next, segBase(in.seg));
                    long res = aluFast(in.sub, rd(ea, size), in.imm, size);
                    if (in.sub != 7) {
                        wr(ea, size, res);
                    }
                }
            }
            case Insn.TEST_RM_R -> aluFast(4, loadRm(in, size, next), getReg(in.reg, size), size);
            case Insn.TEST_RM_IMM -> aluFast(4, loadRm(in, size, next), in.imm, size);
            case Insn.JCC -> {
                if (condFast(in.sub)) {
                    next = target(next + in.imm);
                }
            }
            case Insn.JMP -> next = target(next + in.imm);
            case Insn.CALL -> {
                push(next, size);
                next = target(next + in.imm);
            }
            case Insn.RET -> next = target(pop(size));
            case Insn.PUSH -> push(getReg(in.reg, size), size);
            case Insn.POP -> {
                long v = pop(size);
                setReg(in.reg, size, v);
            }
            case Insn.LEA -> setReg(in.reg, size, in.ea(r, next, 0));
            case Insn.MOVZX -> setReg(in.reg, size, loadRm(in, in.sub, next));
            case Insn.MOVSX -> setReg(in.reg, size, Flags.sext(loadRm(in, in.sub, next), in.sub));
            case Insn.IMUL -> {
                long a;
                long b;
                if (in.hasImm) {
                    a = Flags.sext(loadRm(in, size, next), size);
                    b = in.imm;
                } else {
                    a = Flags.sext(getReg(in.reg, size), size);
                    b = Flags.sext(loadRm(in, size, next), size);
                }
                materialize();
                setReg(in.reg, size, imul(a, b, size));
            }
            case Insn.SHIFT -> {
                int count = in.hasImm ? (int) in.imm : (int) (r[RCX] & 0xff);
                if (in.rm >= 0) {
                    setReg(in.rm, size, shiftFast(in.sub, getReg(in.rm, size), count, size));
                } else {
                    long ea = in.ea(r, next, segBase(in.seg));
                    long res = shiftFast(in.sub, rd(ea, size), count, size);
                    wr(ea, size, res);
                }
            }
            case Insn.SETCC -> storeRm(in, 1, condFast(in.sub) ? 1 : 0, next);
            case Insn.CMOVCC -> {
                long v = loadRm(in, size, next);
                if (condFast(in.sub)) {
                    setReg(in.reg, size, v);
                } else if (size == 4) {
                    setReg(in.reg, 4, getReg(in.reg, 4)); // a 32-bit cmov zero-extends even when false
                }
            }
            case Insn.NOP -> { }
            case Insn.INC_DEC -> {
                if (in.rm >= 0) {
                    setReg(in.rm, size, incDecFast(in.sub, getReg(in.rm, size), size));
                } else {
                    long ea = in.ea(r, next, segBase(in.seg));
                    long res = incDecFast(in.sub, rd(ea, size), size);
                    wr(ea, size, res);
                }
            }
            case Insn.JMP_IND -> next = target(loadRm(in, size, next));
            case Insn.CALL_IND -> {
                long t = loadRm(in, size, next);
                push(next, size);
                next = target(t);
            }
            case Insn.CONVERT -> convert(in.sub, size);
            case Insn.GROUP3 -> {
                if (in.rm >= 0) {
                    long res = group3Fast(in.sub, getReg(in.rm, size), size);
                    if (in.sub <= 3) {
                        setReg(in.rm, size, res);
                    }
                } else {
                    long ea = in.ea(r, next, segBase(in.seg));
                    long res = group3Fast(in.sub, rd(ea, size), size);
                    if (in.sub <= 3) {
                        wr(ea, size, res);
                    }
                }
            }
            default -> {
                materialize();
                step();
                return;
            }
        }
        retired++;
        rip = next;
    }

    long target(long t) {
        return code64 ? t : t & 0xffffffffL;
    }

    long segBase(int s) {
        return s == SEG_FS ? fsBase : s == SEG_GS ? gsBase : 0;
    }

    private long loadRm(Insn in, int size, long next) {
        return in.rm >= 0 ? getReg(in.rm, size) : rd(in.ea(r, next, segBase(in.seg)), size);
    }

    private void storeRm(Insn in, int size, long v, long next) {
        if (in.rm >= 0) {
            setReg(in.rm, size, v);
        } else {
            wr(in.ea(r, next, segBase(in.seg)), size, v);
        }
    }

    /** The ALU with lazy flags; ADC and SBB read CF, so they take the exact path. */
    long aluFast(int op, long a, long b, int size) {
        long m = Flags.mask(size);
        long res;
        switch (op) {
            case 0 -> {
                res = (a + b) & m;
                lazyOp = LAZY_ADD;
            }
            case 1 -> {
                res = (a | b) & m;
                lazyOp = LAZY_LOGIC;
            }
            case 4 -> {
                res = a & b & m;
                lazyOp = LAZY_LOGIC;
            }
            case 5, 7 -> {
                res = (a - b) & m;
                lazyOp = LAZY_SUB;
            }
            case 6 -> {
                res = (a ^ b) & m;
                lazyOp = LAZY_LOGIC;
            }
            default -> {
                materialize();
                return alu(op, a, b, size);
            }
        }
        lazyA = a & m;
        lazyB = b & m;
        lazyRes = res;
        lazySize = size;
        return res;
    }

    /** INC/DEC with lazy flags; CF stays what it was, so it is kept in lazyB. */
    long incDecFast(int which, long a, int size) {
        long m = Flags.mask(size);
        long carry = carry();
        a &= m;
        long res = (which == 0 ? a + 1 : a - 1) & m;
        lazyOp = which == 0 ? LAZY_INC : LAZY_DEC;
        lazyA = a;
        lazyB = carry;
        lazyRes = res;
        lazySize = size;
        return res;
    }

    /** CF as it stands, without computing the other flags. */
    private long carry() {
        return switch (lazyOp) {
            case LAZY_NONE -> rflags & CF;
            case LAZY_ADD -> Long.compareUnsigned(lazyRes, lazyA) < 0 ? 1 : 0;
            case LAZY_SUB -> Long.compareUnsigned(lazyA, lazyB) < 0 ? 1 : 0;
            case LAZY_LOGIC -> 0;
            case LAZY_SHIFT -> lazyB & CF;
            default -> lazyB;
        };
    }

    /**
     * Group 3 on an operand already read: NOT and NEG return the value to write back (NEG with
     * lazy flags, as 0 - v); MUL/IMUL/DIV/IDIV work on the accumulator (a divide error faults
     * before anything changes) and return 0.
     */
    long group3Fast(int which, long v, int size) {
        long m = Flags.mask(size);
        switch (which) {
            case 2 -> {
                return ~v & m;
            }
            case 3 -> {
                lazyOp = LAZY_SUB;
                lazyA = 0;
                lazyB = v & m;
                lazyRes = -v & m;
                lazySize = size;
                return lazyRes;
            }
            case 4, 5 -> {
                materialize();
                mulAcc(which == 5, v, size);
            }
            default -> {
                materialize();
                divAcc(which == 7, v, size);
            }
        }
        return 0;
    }

    /** CBW/CWDE/CDQE (0) and CWD/CDQ/CQO (1). */
    void convert(int which, int size) {
        if (which == 0) {
            setReg(RAX, size, Flags.sext(getReg(RAX, size / 2), size / 2));
        } else {
            setReg(RDX, size, (Flags.sext(getReg(RAX, size), size) < 0) ? -1 : 0);
        }
    }

    /** Puts the pending lazy flags into rflags. */
    void materialize() {
        switch (lazyOp) {
            case LAZY_NONE -> {
                return;
            }
            case LAZY_ADD -> setFlags(Flags.add(lazyA, lazyB, 0, lazySize));
            case LAZY_SUB -> setFlags(Flags.sub(lazyA, lazyB, 0, lazySize));
            case LAZY_INC -> setFlags((Flags.add(lazyA, 1, 0, lazySize) & ~CF) | lazyB);
            case LAZY_DEC -> setFlags((Flags.sub(lazyA, 1, 0, lazySize) & ~CF) | lazyB);
            case LAZY_SHIFT -> setFlags(lazyB | Flags.szp(lazyRes, lazySize));
            default -> setFlags(Flags.logic(lazyRes, lazySize));
        }
        lazyOp = LAZY_NONE;
    }

    /** A condition code, read from the lazy flags where the common ones allow it. */
    boolean condFast(int cc) {
        int op = lazyOp;
        boolean v;
        if (op == LAZY_SUB) {
            long a = lazyA;
            long b = lazyB;
            switch (cc >>> 1) {
                case 1 -> v = Long.compareUnsigned(a, b) < 0;
                case 2 -> v = a == b;
                case 3 -> v = Long.compareUnsigned(a, b) <= 0;
                case 4 -> v = (lazyRes & Flags.signBit(lazySize)) != 0;
                case 6 -> v = Flags.sext(a, lazySize) < Flags.sext(b, lazySize);
                case 7 -> v = Flags.sext(a, lazySize) <= Flags.sext(b, lazySize);
                default -> {
                    materialize();
                    return cond(cc);
                }
            }
        } else if (op == LAZY_LOGIC) {
            long res = lazyRes;
            boolean sign = (res & Flags.signBit(lazySize)) != 0;
            switch (cc >>> 1) {
                case 0, 1 -> v = false; // OF = CF = 0
                case 2, 3 -> v = res == 0;
                case 4, 6 -> v = sign; // SF != OF with OF = 0
                case 7 -> v = res == 0 || sign;
                default -> {
                    materialize();
                    return cond(cc);
                }
            }
        } else if (op == LAZY_ADD && (cc >>> 1 == 2 || cc >>> 1 == 4)) {
            v = cc >>> 1 == 2 ? lazyRes == 0 : (lazyRes & Flags.signBit(lazySize)) != 0;
        } else if (op == LAZY_SHIFT && cc >>> 1 != 5) {
            boolean sign = (lazyRes & Flags.signBit(lazySize)) != 0;
            boolean of = (lazyB & OF) != 0;
            v = switch (cc >>> 1) {
                case 0 -> of;
                case 1 -> (lazyB & CF) != 0;
                case 2 -> lazyRes == 0;
                case 3 -> (lazyB & CF) != 0 || lazyRes == 0;
                case 4 -> sign;
                case 6 -> sign != of;
                default -> lazyRes == 0 || sign != of;
            };
        } else if ((op == LAZY_INC || op == LAZY_DEC) && cc >>> 1 >= 1 && cc >>> 1 <= 4) {
            v = switch (cc >>> 1) {
                case 1 -> lazyB != 0; // CF, kept from before
                case 2 -> lazyRes == 0;
                case 3 -> lazyB != 0 || lazyRes == 0;
                default -> (lazyRes & Flags.signBit(lazySize)) != 0;
            };
        } else {
            materialize();
            return cond(cc);
        }
        return (cc & 1) == 0 ? v : !v;
    }

    private void execute(int op) {
        int size = opsize;
        if (op < 0x40 && (op & 7) < 6) {
            int aluOp = op >>> 3;
            int s = (op & 1) == 0 ? 1 : size;
            switch (op & 7) {
                case 0, 1 -> {
                    modrm(0);
                    long res = alu(aluOp, rm(s), getReg(modReg, s), s);
                    if (aluOp != 7) {
                        setRm(s, res);
                    }
                }
                case 2, 3 -> {
                    modrm(0);
                    long res = alu(aluOp, getReg(modReg, s), rm(s), s);
                    if (aluOp != 7) {
                        setReg(modReg, s, res);
                    }
                }
                default -> {
                    long b = (op & 1) == 0 ? fetch(1) : imm(Math.min(s, 4)) & Flags.mask(s);
                    long res = alu(aluOp, getReg(RAX, s), b, s);
                    if (aluOp != 7) {
                        setReg(RAX, s, res);
                    }
                }
            }
            return;
        }
        switch (op) {
            case 0x0f -> twoByte(fetch8());
            case 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f -> {
                // inc/dec r32 (only outside 64-bit mode, where these bytes are REX prefixes)
                modIsReg = true;
                modRm = op & 7;
                incDec(op < 0x48 ? 0 : 1, size);
            }
            case 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57 -> {
                int s = stackSize();
                push(getReg((op & 7) | (rexB << 3), s), s);
            }
            case 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f -> {
                int s = stackSize();
                long v = pop(s);
                setReg((op & 7) | (rexB << 3), s, v);
            }
            case 0x63 -> { // movsxd
                modrm(0);
                long v = Flags.sext(rm(4), 4);
                setReg(modReg, size, v);
            }
            case 0x68 -> push(imm(4), stackSize());
            case 0x6a -> push(imm(1), stackSize());
            case 0x69, 0x6b -> {
                modrm(op == 0x69 ? Math.min(size, 4) : 1);
                long a = Flags.sext(rm(size), size);
                long b = op == 0x69 ? imm(Math.min(size, 4)) : imm(1);
                setReg(modReg, size, imul(a, b, size));
            }
            case 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f -> {
                long d = imm(1);
                if (cond(op & 0xf)) {
                    jump(ip + d);
                }
            }
            case 0x80, 0x81, 0x83 -> {
                int s = op == 0x80 ? 1 : size;
                int immSize = op == 0x81 ? Math.min(s, 4) : 1;
                modrm(immSize);
                long b = imm(immSize) & Flags.mask(s);
                int aluOp = modReg & 7;
                long res = alu(aluOp, rm(s), b, s);
                if (aluOp != 7) {
                    setRm(s, res);
                }
            }
            case 0x84, 0x85 -> {
                int s = op == 0x84 ? 1 : size;
                modrm(0);
                alu(4, rm(s), getReg(modReg, s), s);
            }
            case 0x86, 0x87 -> {
                int s = op == 0x86 ? 1 : size;
                atomic = true; // xchg with memory is always locked
                modrm(0);
                long a = rm(s);
                long b = getReg(modReg, s);
                setRm(s, b);
                setReg(modReg, s, a);
            }
            case 0x88, 0x89 -> {
                int s = op == 0x88 ? 1 : size;
                modrm(0);
                setRm(s, getReg(modReg, s));
            }
            case 0x8a, 0x8b -> {
                int s = op == 0x8a ? 1 : size;
                modrm(0);
                setReg(modReg, s, rm(s));
            }
            case 0x8c -> {
                modrm(0);
                setRm(modIsReg ? size : 2, (modReg & 7) == 1 ? cs : sreg[Math.min(modReg & 7, 5)]);
            }
            case 0x8d -> {
                modrm(0);
                if (modIsReg) {
                    throw ud();
                }
                setReg(modReg, size, ea - segBase());
            }
            case 0x8e -> {
                modrm(0);
                int reg = modReg & 7;
                if (reg == 1 || reg > 5) {
                    throw ud();
                }
                sreg[reg] = (int) rm(2);
            }
            case 0x8f -> {
                int s = stackSize();
                long v = pop(s);
                modrm(0);
                setRm(s, v);
            }
            case 0x90 -> {
                if (rexB == 1) {
                    xchgRax(8, size); // xchg r8, rax
                }
                // nop, and pause (f3 90)
            }
            case 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97 -> xchgRax((op & 7) | (rexB << 3), size);
            case 0x98 -> setReg(RAX, size, Flags.sext(getReg(RAX, size / 2), size / 2));
            case 0x99 -> setReg(RDX, size, (Flags.sext(getReg(RAX, size), size) < 0) ? -1 : 0);
            case 0x9c -> push(flags() & 0x3f7fd5, stackSize());
            case 0x9d -> {
                long v = pop(stackSize());
                rflags = (rflags & ~0x3f7fd5L) | (v & (Flags.ARITH | TF | IF | DF | 0x40000L | 0x200000L)) | Flags.FIXED;
            }
            case 0x9e -> rflags = (rflags & ~(SF | ZF | AF | PF | CF)) | ((r[RAX] >>> 8) & (SF | ZF | AF | PF | CF));
            case 0x9f -> r[RAX] = (r[RAX] & ~0xff00L) | ((flags() & (SF | ZF | AF | PF | CF | 2)) << 8); // lahf
            case 0xa0, 0xa1, 0xa2, 0xa3 -> { // mov between the accumulator and an absolute address
                int s = (op & 1) == 0 ? 1 : size;
                long addr = fetch(adsize) + segBase();
                if ((op & 2) == 0) {
                    setReg(RAX, s, rd(addr, s));
                } else {
                    wr(addr, s, getReg(RAX, s));
                }
            }
            case 0xa8, 0xa9 -> {
                int s = op == 0xa8 ? 1 : size;
                alu(4, getReg(RAX, s), imm(Math.min(s, 4)) & Flags.mask(s), s);
            }
            case 0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf -> strings(op, (op & 1) == 0 ? 1 : size);
            case 0x6c, 0x6d, 0x6e, 0x6f -> strings(op, (op & 1) == 0 ? 1 : Math.min(size, 4)); // ins, outs
            case 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7 -> setReg((op & 7) | (rexB << 3), 1, fetch(1));
            case 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf -> setReg((op & 7) | (rexB << 3), size, fetch(size));
            case 0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3 -> {
                int s = (op & 1) == 0 ? 1 : size;
                modrm(op <= 0xc1 ? 1 : 0);
                int count = op <= 0xc1 ? (int) fetch(1) : op <= 0xd1 ? 1 : (int) (r[RCX] & 0xff);
                setRm(s, shift(modReg & 7, rm(s), count, s));
            }
            case 0xc2 -> {
                int n = (int) fetch(2);
                long target = pop(stackSize());
                r[RSP] += n;
                jump(target);
            }
            case 0xc3 -> jump(pop(stackSize()));
            case 0xc6, 0xc7 -> {
                int s = op == 0xc6 ? 1 : size;
                int immSize = Math.min(s, 4);
                modrm(immSize);
                if ((modReg & 7) != 0) {
                    throw ud();
                }
                setRm(s, imm(immSize));
            }
            case 0xc8 -> { // enter (nesting level 0 only)
                int frame = (int) fetch(2);
                int level = (int) fetch(1) & 31;
                if (level != 0) {
                    throw ud();
                }
                int s = stackSize();
                push(r[RBP], s);
                long fp = r[RSP];
                r[RSP] -= frame;
                setReg(RBP, s, fp);
            }
            case 0xc9 -> {
                int s = stackSize();
                r[RSP] = r[RBP];
                setReg(RBP, s, pop(s));
            }
            case 0xca -> farReturn((int) fetch(2));
            case 0xcb -> farReturn(0);
            case 0xcc -> softInterrupt(VEC_BP);
            case 0xcd -> softInterrupt((int) fetch(1));
            case 0xcf -> iret();
            case 0xd7 -> { // xlat: al = [rbx + al]
                setReg(RAX, 1, rd(((r[RBX] + (r[RAX] & 0xff)) & addressMask()) + segBase(), 1));
            }
            case 0xe0, 0xe1, 0xe2 -> { // loopne, loope, loop: count in rCX/eCX, flags unchanged
                long d = imm(1);
                long count = (r[RCX] - 1) & addressMask();
                r[RCX] = adsize == 2 ? (r[RCX] & ~0xffffL) | count : count; // a 32-bit count zero-extends
                if (count != 0 && (op == 0xe2 || (op == 0xe1) == ((rflags & ZF) != 0))) {
                    jump(ip + d);
                }
            }
            case 0xe3 -> { // jrcxz, jecxz (0x67)
                long d = imm(1);
                if ((r[RCX] & addressMask()) == 0) {
                    jump(ip + d);
                }
            }
            case 0xe4, 0xe5, 0xec, 0xed -> {
                int port = op <= 0xe5 ? (int) fetch(1) : (int) (r[RDX] & 0xffff);
                int s = (op & 1) == 0 ? 1 : Math.min(size, 4);
                awaiting = new Awaiting.PortIn(s);
                report(new Exit.Io(port, s, false, 0));
            }
            case 0xe6, 0xe7, 0xee, 0xef -> {
                int port = op <= 0xe7 ? (int) fetch(1) : (int) (r[RDX] & 0xffff);
                int s = (op & 1) == 0 ? 1 : Math.min(size, 4);
                report(new Exit.Io(port, s, true, getReg(RAX, s)));
            }
            case 0xe8 -> {
                long d = imm(4);
                push(ip, stackSize());
                jump(ip + d);
            }
            case 0xe9 -> {
                long d = imm(Math.min(size, 4));
                jump(ip + d);
            }
            case 0xea -> { // ljmp ptr16:32 (32-bit mode only)
                if (code64) {
                    throw ud();
                }
                long target = fetch(4);
                int sel = (int) fetch(2);
                loadCs(sel);
                jump(target);
            }
            case 0xeb -> {
                long d = imm(1);
                jump(ip + d);
            }
            case 0xf4 -> report(new Exit.Halt());
            case 0xf5 -> rflags ^= CF;
            case 0xf6, 0xf7 -> group3(op == 0xf6 ? 1 : size);
            case 0xf8 -> rflags &= ~CF;
            case 0xf9 -> rflags |= CF;
            case 0xfa -> rflags &= ~IF;
            case 0xfb -> rflags |= IF;
            case 0xfc -> rflags &= ~DF;
            case 0xfd -> rflags |= DF;
            case 0xfe -> {
                modrm(0);
                incDec(modReg & 7, 1);
            }
            case 0xff -> group5(size);
            default -> throw ud();
        }
    }

    private void xchgRax(int reg, int size) {
        long a = getReg(RAX, size);
        setReg(RAX, size, getReg(reg, size));
        setReg(reg, size, a);
    }

    private void jump(long target) {
        ip = code64 ? target : target & 0xffffffffL;
    }

    private void loadCs(int selector) {
        long desc = rd(gdtBase + (selector & ~7), 8);
        cs = selector;
        boolean l = (desc & (1L << 53)) != 0;
        code64 = l && (efer & EFER_LMA) != 0;
    }

    private void softInterrupt(int vector) {
        if ((efer & EFER_LMA) == 0) {
            throw fault(VEC_GP, 0);
        }
        interrupt(vector, 0, false, ip);
        ip = rip;
    }

    /**
     * IRET of the operand size (IRETQ with REX.W, IRETD by default, also in 64-bit mode): rIP, CS,
     * rFLAGS, and in 64-bit mode always SS:rSP. Everything is read and checked before anything
     * changes, so a fault (or an exit for a stack in MMIO) leaves the state as it was.
     */
    private void iret() {
        int s = opsize;
        long sp = r[RSP];
        long newRip = rd(stackAddress(sp), s);
        int newCs = (int) rd(stackAddress(sp + s), s) & 0xffff;
        long newFlags = rd(stackAddress(sp + 2L * s), s);
        long newSp = sp + 3L * s;
        int newSs = sreg[2];
        if (code64) {
            newSp = rd(sp + 3L * s, s);
            newSs = (int) rd(sp + 4L * s, s) & 0xffff;
        }
        boolean to64 = (efer & EFER_LMA) != 0 ? codeSegment(newCs, newRip) : false;
        long mask = s == 2 ? 0x7fd5L : 0x3f7fd5L;
        rflags = (rflags & ~mask) | (newFlags & mask) | Flags.FIXED;
        r[RSP] = code64 ? newSp : (r[RSP] & ~0xffffffffL) | (newSp & 0xffffffffL);
        sreg[2] = newSs;
        cs = newCs;
        code64 = to64;
        jump(newRip);
    }

    /**
     * LRET (0xcb; 0xca releases {@code release} more bytes): rIP and CS of the operand size,
     * 32-bit by default also in 64-bit mode. Only returns to the same privilege level (the vCPU
     * runs at CPL 0). Checked before anything changes.
     */
    private void farReturn(int release) {
        int s = opsize;
        long sp = r[RSP];
        long newRip = rd(stackAddress(sp), s);
        int newCs = (int) rd(stackAddress(sp + s), s) & 0xffff;
        boolean to64 = (efer & EFER_LMA) != 0 ? codeSegment(newCs, newRip) : code64;
        long newSp = sp + 2L * s + release;
        r[RSP] = code64 ? newSp : (r[RSP] & ~0xffffffffL) | (newSp & 0xffffffffL);
        cs = newCs;
        code64 = to64;
        jump(newRip);
    }

    /** The address size as a mask: the count register's width for LOOP and JrCXZ. */
    private long addressMask() {
        return adsize == 8 ? -1L : adsize == 4 ? 0xffffffffL : 0xffffL;
    }

    private long stackAddress(long sp) {
        return code64 ? sp : sp & 0xffffffffL;
    }

    /**
     * The checks of a far return to code segment {@code selector} in the GDT (SDM vol. 2, IRET and
     * RET): #GP(0) for a null selector, #GP(selector) beyond the GDT's limit, in the LDT or not a
     * code segment, #NP(selector) not present, #GP(0) for a non-canonical 64-bit target. Returns
     * whether the segment is 64-bit code.
     */
    private boolean codeSegment(int selector, long target) {
        int error = selector & 0xfffc;
        if (error == 0) {
            throw fault(VEC_GP, 0);
        }
        if ((selector & 4) != 0 || (selector | 7) > gdtLimit) {
            throw fault(VEC_GP, error);
        }
        long desc = rd(gdtBase + (selector & ~7), 8);
        if ((desc & (1L << 44)) == 0 || (desc & (1L << 43)) == 0) { // S = 1 and executable
            throw fault(VEC_GP, error);
        }
        if ((desc & (1L << 47)) == 0) {
            throw fault(VEC_NP, error);
        }
        boolean is64 = (desc & (1L << 53)) != 0;
        if (is64 && (target << 16 >> 16) != target) {
            throw fault(VEC_GP, 0);
        }
        return is64;
    }

    private void incDec(int which, int size) {
        long a = rm(size);
        if (which > 1) {
            throw ud();
        }
        long res = incDecFast(which, a, size);
        materialize(); // the interpreter keeps rflags exact
        setRm(size, res);
    }

    private void group5(int size) {
        modrm(0);
        int which = modReg & 7;
        switch (which) {
            case 0, 1 -> incDec(which, size);
            case 2 -> {
                long target = rm(code64 ? 8 : size);
                push(ip, stackSize());
                jump(target);
            }
            case 4 -> jump(rm(code64 ? 8 : size));
            case 6 -> {
                int s = stackSize();
                push(rm(s), s);
            }
            default -> throw ud();
        }
    }

    private void group3(int size) {
        int immSize = Math.min(size, 4);
        int b = fetch8();
        ip--;
        int which = (b >>> 3) & 7;
        modrm(which <= 1 ? immSize : 0);
        long m = Flags.mask(size);
        switch (which) {
            case 0, 1 -> alu(4, rm(size), imm(immSize) & m, size);
            case 2 -> setRm(size, ~rm(size));
            case 3 -> {
                long a = rm(size);
                setFlags(Flags.sub(0, a, 0, size));
                setRm(size, -a);
            }
            case 4, 5 -> mulAcc(which == 5, rm(size), size);
            default -> divAcc(which == 7, rm(size), size);
        }
    }

    /** MUL/IMUL with the accumulator: CF = OF = the high half is significant. */
    private void mulAcc(boolean signed, long src, int size) {
        long a = getReg(RAX, size);
        long lo;
        long hi;
        boolean overflow;
        if (size == 8) {
            lo = a * src;
            hi = signed ? Math.multiplyHigh(a, src) : Math.unsignedMultiplyHigh(a, src);
            overflow = signed ? hi != (lo >> 63) : hi != 0;
        } else {
            int bits = size * 8;
            long full = signed ? Flags.sext(a, size) * Flags.sext(src, size) : a * (src & Flags.mask(size));
            lo = full & Flags.mask(size);
            hi = (full >> bits) & Flags.mask(size);
            overflow = signed ? Flags.sext(full, size) != full : (full >>> bits) != 0;
        }
        if (size == 1) {
            setReg(RAX, 2, (hi << 8) | lo);
        } else {
            setReg(RAX, size, lo);
            setReg(RDX, size, hi);
        }
        setFlags((rflags & (ZF | SF | PF | AF)) | (overflow ? CF | OF : 0)); // SF, ZF, PF, AF: undefined, kept
    }

    /** DIV/IDIV of rDX:rAX (AX for bytes); #DE on a zero divisor or a quotient that does not fit. */
    private void divAcc(boolean signed, long src, int size) {
        if ((src & Flags.mask(size)) == 0) {
            throw fault(VEC_DE);
        }
        long q;
        long rem;
        if (size == 8) {
            long hi = r[RDX];
            long lo = r[RAX];
            if (!signed && hi == 0) {
                q = Long.divideUnsigned(lo, src);
                rem = Long.remainderUnsigned(lo, src);
            } else if (signed && hi == (lo >> 63) && !(lo == Long.MIN_VALUE && src == -1)) {
                q = lo / src;
                rem = lo % src;
            } else {
                BigInteger dividend = new BigInteger(1, toBytes(hi, lo));
                if (signed && hi < 0) {
                    dividend = dividend.subtract(BigInteger.ONE.shiftLeft(128));
                }
                BigInteger divisor = signed ? BigInteger.valueOf(src) : new BigInteger(Long.toUnsignedString(src));
                BigInteger[] qr = dividend.divideAndRemainder(divisor);
                boolean fits = signed ? qr[0].bitLength() <= 63 : qr[0].signum() >= 0 && qr[0].bitLength() <= 64;
                if (!fits) {
                    throw fault(VEC_DE);
                }
                q = qr[0].longValue();
                rem = qr[1].longValue();
            }
            r[RAX] = q;
            r[RDX] = rem;
            return;
        }
        int bits = size * 8;
        long dividend = size == 1 ? getReg(RAX, 2) : (getReg(RDX, size) << bits) | getReg(RAX, size);
        if (signed) {
            long d = size == 1 ? (short) dividend : size == 2 ? (int) dividend : dividend;
            long s = Flags.sext(src, size);
            q = d / s;
            rem = d % s;
            if (q != Flags.sext(q, size)) {
                throw fault(VEC_DE);
            }
        } else {
            long s = src & Flags.mask(size);
            q = Long.divideUnsigned(dividend, s);
            rem = Long.remainderUnsigned(dividend, s);
            if ((q & ~Flags.mask(size)) != 0) {
                throw fault(VEC_DE);
            }
        }
        if (size == 1) {
            setReg(RAX, 2, ((rem & 0xff) << 8) | (q & 0xff));
        } else {
            setReg(RAX, size, q);
            setReg(RDX, size, rem);
        }
    }

    private static byte[] toBytes(long hi, long lo) {
        byte[] b = new byte[16];
        for (int i = 0; i < 8; i++) {
            b[i] = (byte) (hi >>> (56 - 8 * i));
            b[8 + i] = (byte) (lo >>> (56 - 8 * i));
        }
        return b;
    }

    /** Two- and three-operand IMUL: truncated product, CF = OF = the truncation lost bits. */
    private long imul(long a, long b, int size) {
        long lo = a * b;
        boolean overflow;
        if (size == 8) {
            overflow = Math.multiplyHigh(a, b) != (lo >> 63);
        } else {
            overflow = Flags.sext(lo, size) != lo;
        }
        setFlags((rflags & (ZF | SF | PF | AF)) | (overflow ? CF | OF : 0));
        return lo & Flags.mask(size);
    }

    /** ROL ROR RCL RCR SHL SHR SAL SAR; a count of zero changes nothing. */
    long shift(int which, long v, int count, int size) {
        int bits = size * 8;
        count &= size == 8 ? 63 : 31;
        long m = Flags.mask(size);
        v &= m;
        if (count == 0) {
            return v;
        }
        if (which >= 4) { // SHL SHR SAL SAR: computed once, in shiftFast
            long res = shiftFast(which, v, count, size);
            materialize(); // the interpreter keeps rflags exact
            return res;
        }
        long sign = Flags.signBit(size);
        long f = rflags;
        long res;
        switch (which) {
            case 0 -> { // ROL
                int c = count % bits;
                res = ((v << c) | (c == 0 ? 0 : v >>> (bits - c))) & m;
                long cf = res & 1;
                f = (f & ~(CF | OF)) | cf | ((((res & sign) != 0 ? 1 : 0) ^ cf) != 0 ? OF : 0);
            }
            case 1 -> { // ROR
                int c = count % bits;
                res = ((v >>> c) | (c == 0 ? 0 : v << (bits - c))) & m;
                boolean msb = (res & sign) != 0;
                boolean msb2 = (res & (sign >>> 1)) != 0;
                f = (f & ~(CF | OF)) | (msb ? CF : 0) | (msb != msb2 ? OF : 0);
            }
            default -> { // RCL, RCR (2, 3): rotate through carry, size+1 bits
                int c = size <= 2 ? count % (bits + 1) : count;
                long carry = f & CF;
                res = v;
                for (int i = 0; i < c; i++) {
                    if (which == 2) {
                        long out = (res & sign) != 0 ? 1 : 0;
                        res = ((res << 1) | carry) & m;
                        carry = out;
                    } else {
                        long out = res & 1;
                        res = (res >>> 1) | (carry != 0 ? sign : 0);
                        carry = out;
                    }
                }
                boolean msb = (res & sign) != 0;
                long of = which == 2 ? ((msb ? 1 : 0) ^ carry) : (msb != ((res & (sign >>> 1)) != 0) ? 1 : 0);
                f = (f & ~(CF | OF)) | carry | (of != 0 ? OF : 0);
            }
        }
        rflags = f;
        return res;
    }

    /** MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS, with REP/REPE/REPNE on the count register. */
    private void strings(int op, int size) {
        long step = (rflags & DF) != 0 ? -size : size;
        long am = adsize == 4 ? 0xffffffffL : -1L;
        boolean repeat = rep != 0;
        boolean compare = op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf;
        while (true) {
            if (repeat && (r[RCX] & am) == 0) {
                return;
            }
            long si = (r[RSI] & am) + segBase();
            long di = r[RDI] & am;
            switch (op) {
                case 0xa4, 0xa5 -> {
                    wr(di, size, rd(si, size));
                    r[RSI] += step;
                    r[RDI] += step;
                }
                case 0xa6, 0xa7 -> {
                    alu(7, rd(si, size), rd(di, size), size);
                    r[RSI] += step;
                    r[RDI] += step;
                }
                case 0xaa, 0xab -> {
                    wr(di, size, r[RAX]);
                    r[RDI] += step;
                }
                case 0xac, 0xad -> {
                    setReg(RAX, size, rd(si, size));
                    r[RSI] += step;
                }
                case 0x6c, 0x6d -> { // ins: the port's answer replays when the instruction runs again
                    wr(di, size, portRead((int) (r[RDX] & 0xffff), size));
                    r[RDI] += step;
                }
                case 0x6e, 0x6f -> { // outs: the exit is taken after the iteration
                    report(new Exit.Io((int) (r[RDX] & 0xffff), size, true, rd(si, size)));
                    r[RSI] += step;
                }
                default -> {
                    alu(7, getReg(RAX, size), rd(di, size), size);
                    r[RDI] += step;
                }
            }
            if (adsize == 4) {
                r[RSI] &= 0xffffffffL;
                r[RDI] &= 0xffffffffL;
            }
            if (!repeat) {
                return;
            }
            // An iteration is done: a rerun of the instruction (the next iteration needs an answer)
            // starts at the next one, so the answers so far must not be replayed to it.
            accesses.clear();
            r[RCX] = adsize == 4 ? (r[RCX] - 1) & 0xffffffffL : r[RCX] - 1;
            if (compare && ((rep == 0xf3) != ((rflags & ZF) != 0))) {
                return; // REPE stops on ZF=0, REPNE on ZF=1
            }
            // Let exits and faults be taken between iterations: the instruction restarts with the updated count.
            if (pendingExit != null) {
                if ((r[RCX] & am) != 0) {
                    ip = rip;
                }
                return;
            }
        }
    }

    private void twoByte(int op) {
        int size = opsize;
        switch (op) {
            case 0x01 -> group7();
            case 0x05 -> throw ud(); // syscall: no user mode yet
            case 0x0b -> throw ud();
            case 0x0d, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f -> modrm(0); // hint nops, prefetch
            case 0x20 -> {
                modrm(0);
                r[modRm] = switch (modReg) {
                    case 0 -> cr0;
                    case 2 -> cr2;
                    case 3 -> cr3;
                    case 4 -> cr4;
                    case 8 -> 0;
                    default -> throw ud();
                };
            }
            case 0x22 -> {
                modrm(0);
                long v = r[modRm];
                switch (modReg) {
                    case 0 -> {
                        cr0 = v | CR0_ET;
                        if ((cr0 & CR0_PG) != 0 && (efer & EFER_LME) != 0 && (cr4 & CR4_PAE) != 0) {
                            efer |= EFER_LMA;
                        } else if ((cr0 & CR0_PG) == 0) {
                            efer &= ~EFER_LMA;
                        }
                    }
                    case 2 -> cr2 = v;
                    case 3 -> cr3 = v;
                    case 4 -> cr4 = v;
                    case 8 -> { }
                    default -> throw ud();
                }
                flushTlb();
            }
            case 0x30 -> wrmsr((int) r[RCX], (r[RDX] << 32) | (r[RAX] & 0xffffffffL));
            case 0x31 -> {
                long tsc = (System.nanoTime() - tscOffset) * 3; // a nominal 3 GHz
                setReg(RAX, 4, tsc);
                setReg(RDX, 4, tsc >>> 32);
            }
            case 0x32 -> {
                long v = rdmsr((int) r[RCX]);
                setReg(RAX, 4, v);
                setReg(RDX, 4, v >>> 32);
            }
            case 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f -> {
                modrm(0);
                long v = rm(size);
                if (cond(op & 0xf)) {
                    setReg(modReg, size, v);
                } else if (size == 4) {
                    setReg(modReg, 4, getReg(modReg, 4)); // a 32-bit cmov zero-extends even when false
                }
            }
            case 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f -> {
                long d = imm(4);
                if (cond(op & 0xf)) {
                    jump(ip + d);
                }
            }
            case 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f -> {
                modrm(0);
                setRm(1, cond(op & 0xf) ? 1 : 0);
            }
            case 0xa2 -> cpuid();
            case 0xa3, 0xab, 0xb3, 0xbb -> {
                modrm(0);
                bitOp((op >>> 3) & 3, getReg(modReg, size), size, true);
            }
            case 0xba -> {
                modrm(1);
                int which = modReg & 7;
                if (which < 4) {
                    throw ud();
                }
                bitOp(which - 4, fetch(1), size, false);
            }
            case 0xa4, 0xa5, 0xac, 0xad -> {
                modrm((op & 1) == 0 ? 1 : 0);
                int count = (op & 1) == 0 ? (int) fetch(1) : (int) (r[RCX] & 0xff);
                setRm(size, doubleShift(op >= 0xac, rm(size), getReg(modReg, size), count, size));
            }
            case 0xaf -> {
                modrm(0);
                setReg(modReg, size, imul(Flags.sext(getReg(modReg, size), size), Flags.sext(rm(size), size), size));
            }
            case 0xb0, 0xb1 -> {
                int s = op == 0xb0 ? 1 : size;
                atomic = true;
                modrm(0);
                long dest = rm(s);
                long acc = getReg(RAX, s);
                alu(7, acc, dest, s);
                if ((rflags & ZF) != 0) {
                    setRm(s, getReg(modReg, s));
                } else {
                    if (!modIsReg) {
                        setRm(s, dest); // the locked cycle writes back what it read
                    }
                    setReg(RAX, s, dest);
                }
            }
            case 0xb6, 0xb7 -> {
                modrm(0);
                setReg(modReg, size, rm(op == 0xb6 ? 1 : 2));
            }
            case 0xbe, 0xbf -> {
                modrm(0);
                int s = op == 0xbe ? 1 : 2;
                setReg(modReg, size, Flags.sext(rm(s), s));
            }
            case 0xb8 -> {
                if (rep != 0xf3) {
                    throw ud();
                }
                modrm(0);
                long v = rm(size);
                setReg(modReg, size, Long.bitCount(v));
                rflags = (rflags & ~Flags.ARITH) | (v == 0 ? ZF : 0);
            }
            case 0xbc, 0xbd -> {
                modrm(0);
                long v = rm(size);
                int bits = size * 8;
                // F3 0F BD is LZCNT (advertised, ABM); F3 0F BC stays BSF, as on CPUs without BMI1.
                if (rep == 0xf3 && op == 0xbd) {
                    long n = v == 0 ? bits : Long.numberOfLeadingZeros(v) - (64 - bits);
                    setReg(modReg, size, n);
                    rflags = (rflags & ~(CF | ZF)) | (v == 0 ? CF : 0) | (n == 0 ? ZF : 0);
                } else if (v == 0) { // BSF, BSR: destination unchanged
                    rflags |= ZF;
                } else {
                    setReg(modReg, size, op == 0xbc ? Long.numberOfTrailingZeros(v) : 63 - Long.numberOfLeadingZeros(v));
                    rflags &= ~ZF;
                }
            }
            case 0xc0, 0xc1 -> {
                int s = op == 0xc0 ? 1 : size;
                atomic = true;
                modrm(0);
                long dest = rm(s);
                long src = getReg(modReg, s);
                long sum = alu(0, dest, src, s);
                setRm(s, sum); // first: a fault or a lost race must leave the register as it was
                setReg(modReg, s, dest);
            }
            case 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf -> {
                int reg = (op & 7) | (rexB << 3);
                setReg(reg, size, size == 8 ? Long.reverseBytes(r[reg]) : Integer.reverseBytes((int) r[reg]) & 0xffffffffL);
            }
            default -> throw ud();
        }
    }

    /** BT, BTS, BTR, BTC; with a register offset a memory operand is a bit string. */
    private void bitOp(int which, long offset, int size, boolean registerOffset) {
        int bits = size * 8;
        long bit;
        if (modIsReg || !registerOffset) {
            bit = offset & (bits - 1);
        } else {
            long signed = Flags.sext(offset, size);
            ea += Math.floorDiv(signed, bits) * size;
            bit = Math.floorMod(signed, bits);
        }
        long v = rm(size);
        long mask = 1L << bit;
        rflags = (rflags & ~CF) | ((v & mask) != 0 ? CF : 0);
        switch (which) {
            case 1 -> setRm(size, v | mask);
            case 2 -> setRm(size, v & ~mask);
            case 3 -> setRm(size, v ^ mask);
            default -> { }
        }
    }

    /** SHLD / SHRD. */
    private long doubleShift(boolean right, long dest, long src, int count, int size) {
        int bits = size * 8;
        count &= size == 8 ? 63 : 31;
        long m = Flags.mask(size);
        dest &= m;
        src &= m;
        if (count == 0) {
            return dest;
        }
        long res;
        long cf;
        if (right) {
            res = ((dest >>> count) | (src << (bits - count))) & m;
            cf = (dest >>> (count - 1)) & 1;
        } else {
            res = ((dest << count) | (src >>> (bits - count))) & m;
            cf = (dest >>> (bits - count)) & 1;
        }
        long of = ((res ^ dest) & Flags.signBit(size)) != 0 ? OF : 0;
        rflags = (rflags & ~Flags.ARITH) | cf | Flags.szp(res, size) | (count == 1 ? of : 0);
        return res;
    }

    static final long TDVMCALL_INVALID_OPERAND = 0x8000000000000000L;
    static final long TDX_OPERAND_INVALID = 0xc000010000000000L;
    static final long PVALIDATE_FAIL_INPUT = 1;
    static final long TDVMCALL_MAP_GPA = 0x10001;

    /**
     * False while PVALIDATE translates its operand: it names a page without touching it, so neither
     * validation nor the private/shared state is checked.
     */
    private boolean checkCoco = true;

    /** The SEV-ES/SNP GHCB MSR: the guest's requests in the MSR protocol, and our answers. */
    static final int MSR_GHCB = 0xc0010130;
    static final long GHCB_PSC_REQUEST = 0x014;
    static final long GHCB_PSC_RESPONSE = 0x015;
    private long ghcbMsr;

    private void group7() {
        int b = fetch8();
        if (b == 0xd9 && rep == 0xf3 && snp()) { // VMGEXIT (rep vmmcall): GHCB MSR protocol
            vmgexit();
            return;
        }
        if (b == 0xc1 || b == 0xd9) { // vmcall (Intel), vmmcall (AMD)
            awaiting = new Awaiting.Hypercall();
            report(new Exit.Hypercall(r[RAX], r[RBX], r[RCX], r[RDX], r[RSI]));
            return;
        }
        if (b == 0xcc && opsize == 2 && tdx()) { // tdcall, in a TD only
            tdcall();
            return;
        }
        if (b == 0xff && rep == 0xf2 && snp()) { // pvalidate rAX (a linear address), ecx = size, edx = validate
            if ((r[RCX] & 0xffffffffL) != 0) {
                setReg(RAX, 4, 6); // FAIL_SIZEMISMATCH: 4 KiB pages only
                return;
            }
            long gpa;
            checkCoco = false;
            try {
                gpa = translate(r[RAX] & ~0xfffL, READ) & ~0xfffL;
            } finally {
                checkCoco = true;
            }
            awaiting = new Awaiting.SnpValidate();
            report(new Exit.Coco(new GuestRequest.SnpValidate(gpa, (r[RDX] & 1) != 0)));
            return;
        }
        ip--;
        modrm(0);
        int which = modReg & 7;
        if (modIsReg) {
            throw ud();
        }
        switch (which) {
            case 2, 3 -> {
                int limit = (int) rd(ea, 2);
                long base = code64 ? rd(ea + 2, 8) : rd(ea + 2, 4);
                if (which == 2) {
                    gdtLimit = limit;
                    gdtBase = base;
                } else {
                    idtLimit = limit;
                    idtBase = base;
                }
            }
            case 0, 1 -> {
                wr(ea, 2, which == 0 ? gdtLimit : idtLimit);
                wr(ea + 2, code64 ? 8 : 4, which == 0 ? gdtBase : idtBase);
            }
            case 7 -> flushTlb(); // invlpg: drop everything, the TLB is small
            default -> throw ud();
        }
    }

    /**
     * The page-state change request of the GHCB MSR protocol: bits 51:12 the frame, 55:52 the
     * operation (1 private, 2 shared). Other requests are answered with an error response.
     */
    private void vmgexit() {
        if ((ghcbMsr & 0xfff) != GHCB_PSC_REQUEST) {
            ghcbMsr = 0xfff; // "unsupported request" in the protocol's terms
            return;
        }
        long gpa = ghcbMsr & 0x000ffffffffff000L;
        int operation = (int) ((ghcbMsr >>> 52) & 0xf);
        if (operation != 1 && operation != 2) {
            ghcbMsr = GHCB_PSC_RESPONSE | (1L << 32);
            return;
        }
        awaiting = new Awaiting.GhcbPageStateChange();
        report(new Exit.Coco(new GuestRequest.SnpPageStateChange(gpa, 1, operation == 1)));
    }

    /** A TD: the backend defines CPUID leaf 0x21. */
    private boolean tdx() {
        return coco.cpuid(0x21, 0) != null;
    }

    private boolean snp() {
        int[] sev = coco.cpuid(0x8000001f, 0);
        return sev != null && (sev[0] & (1 << 4)) != 0;
    }

    /** TDG.VP.VMCALL&lt;MapGPA&gt; and TDG.MEM.PAGE.ACCEPT go to the backend; other leaves fail. */
    private void tdcall() {
        long leaf = r[RAX];
        if (leaf == 0 && r[10] == 0 && r[11] == TDVMCALL_MAP_GPA) {
            awaiting = new Awaiting.TdxMapGpa();
            report(new Exit.Coco(new GuestRequest.TdxMapGpa(r[12], r[13])));
        } else if (leaf == 6) {
            awaiting = new Awaiting.TdxAccept();
            report(new Exit.Coco(new GuestRequest.TdxAccept(r[RCX] & ~0xfffL)));
        } else if (leaf == 0) {
            r[RAX] = 0;
            r[10] = TDVMCALL_INVALID_OPERAND;
        } else {
            r[RAX] = TDX_OPERAND_INVALID;
        }
    }

    private void cpuid() {
        syncCode(); // CPUID serializes: code other vCPUs wrote is seen from here on
        int leaf = (int) r[RAX];
        int sub = (int) r[RCX];
        int[] v = coco.cpuid(leaf, sub);
        if (v == null) {
            v = model.cpuid(leaf, sub).clone();
            if (leaf == 1) {
                v[1] = (v[1] & 0x00ffffff) | (index << 24); // initial APIC ID: the vCPU's index
            }
            // The highest leaves include those the backend adds (0x21 for TDX, 0x8000001F for SEV).
            if (leaf == 0 && tdx()) {
                v[0] = Math.max(v[0], 0x21);
            } else if (leaf == 0x80000000 && coco.cpuid(0x8000001f, 0) != null) {
                v[0] = Math.max(v[0], 0x8000001f);
            }
        }
        setReg(RAX, 4, v[0]);
        setReg(RBX, 4, v[1]);
        setReg(RCX, 4, v[2]);
        setReg(RDX, 4, v[3]);
    }

    static final int MSR_TSC = 0x10;
    static final int MSR_APIC_BASE = 0x1b;
    static final int MSR_EFER = 0xc0000080;
    static final int MSR_FS_BASE = 0xc0000100;
    static final int MSR_GS_BASE = 0xc0000101;
    static final int MSR_KERNEL_GS_BASE = 0xc0000102;

    private long rdmsr(int msr) {
        return switch (msr) {
            case MSR_TSC -> (System.nanoTime() - tscOffset) * 3;
            case MSR_APIC_BASE -> 0xfee00000L | (1 << 11) | (index == 0 ? 1 << 8 : 0);
            case MSR_EFER -> efer;
            case MSR_FS_BASE -> fsBase;
            case MSR_GS_BASE -> gsBase;
            case MSR_KERNEL_GS_BASE -> kernelGsBase;
            case MSR_GHCB -> {
                if (!snp()) {
                    throw fault(VEC_GP, 0);
                }
                yield ghcbMsr;
            }
            default -> {
                Long v = coco.msr(msr);
                if (v == null) {
                    v = model.msr(msr);
                }
                if (v == null) {
                    throw fault(VEC_GP, 0);
                }
                yield v;
            }
        };
    }

    private void wrmsr(int msr, long v) {
        switch (msr) {
            case MSR_EFER -> {
                efer = (v & (EFER_LME | EFER_NXE | 1)) | (efer & EFER_LMA);
                flushTlb();
            }
            case MSR_FS_BASE -> fsBase = v;
            case MSR_GS_BASE -> gsBase = v;
            case MSR_KERNEL_GS_BASE -> kernelGsBase = v;
            case MSR_GHCB -> {
                if (!snp()) {
                    throw fault(VEC_GP, 0);
                }
                ghcbMsr = v;
            }
            case MSR_TSC, MSR_APIC_BASE -> { }
            default -> {
                if (model.msr(msr) == null) {
                    throw fault(VEC_GP, 0);
                }
            }
        }
    }
}
