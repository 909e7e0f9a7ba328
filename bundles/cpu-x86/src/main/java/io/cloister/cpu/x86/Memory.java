package io.cloister.cpu.x86;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

import io.cloister.api.cpu.Exit;
import io.cloister.api.memory.Access;
import io.cloister.api.memory.MemSlot;
import io.cloister.api.restricted.InvalidationListener;
import io.cloister.api.restricted.PageState;

/**
 * Memory as the vCPU sees it: 4-level paging with a software TLB, guest RAM reached directly, other
 * slots and MMIO through the guest view and exits (with the access log that replays answers), the
 * confidential-computing checks of a translation, the stack, and the bookkeeping that keeps decoded
 * code in step with writes to it. Locked read-modify-writes are {@link LockedAccess}'s.
 */
abstract class Memory extends CpuState {
    // Guest RAM: the slot at gpa 0, reached directly
    MemorySegment ram;
    long ramSize;
    long ramGeneration = -1;
    /**
     * RAM's host address, when RAM is a mapping of the global scope (hostmem's, which every VM's
     * memory manager uses): RAM is then read and written through {@link #HOST}, a constant the JIT
     * folds, so the segment's own checks of its class, length and scope go from every access. They
     * guard nothing here: physRead and physWrite check the range against ramSize first, and a
     * global-scope segment has no liveness to check (its file refuses to close while bound). Any
     * other segment (a test's arena) is used as it is: ramDirect false.
     */
    long ramAddress;
    boolean ramDirect;
    private static final MemorySegment HOST = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);

    // Software TLB, one direct-mapped table per access kind and privilege (supervisor, then user):
    // tag = vpn + 1, value = physical page. A user entry is filled only by a walk that allowed it.
    // Tag and value side by side (2 * slot, 2 * slot + 1): a hit loads one array, in one cache line.
    private final long[] tlb = new long[TLB * 12];
    /**
     * Which TLB entries map a global page (G in the leaf entry, under CR4.PGE), which a CR3 write
     * keeps (flushNonGlobal). Set by every walk that fills a slot; a flag left on a slot whose tag a
     * flush cleared is harmless, since no address matches a cleared tag.
     */
    private final boolean[] tlbGlobal = new boolean[TLB * 6]; // a flag per slot, two longs each in tlb

    // Host addresses of RAM pages for loads and stores, the path every access tries first (and the
    // one compiled blocks inline, load1..store8). Four direct-mapped tables of FAST entries: reads
    // and writes, at supervisor and at user privilege (as in the TLB), each entry the page's linear
    // address as tag and, beside it, what added to a linear address gives its host address.
    // Invariants: an entry is filled only from a TLB entry the access just used (so every check of
    // the walk, privilege, NX, the confidential-computing ones, was made), for a page wholly in RAM
    // reached directly; flushTlb empties the tables with the TLB; a write entry is filled only for
    // a page holding no decoded code, while this is the VM's only vCPU, and is dropped when code is
    // decoded in its page (codeMarked) or another vCPU starts (flushCode, by the code epoch), so a
    // store through it never needs codeWritten. An access hits when the page of its last byte is
    // the tag in its first byte's slot (fastHit): accesses crossing a page take the full path.
    static final int FAST = 1024;
    private static final int FAST_WRITE = 1, FAST_USER = 2;
    private static final long NO_TAG = -1;
    private final long[] fast = newFast();
    /**
     * Which fast entries were filled from a global TLB entry (by entry: fast[2 * e]), which a CR3
     * write keeps as it keeps the TLB's (flushNonGlobal). A flag left on an entry another flush
     * emptied is harmless: no address matches an empty tag, and a fill sets it again.
     */
    private final boolean[] fastGlobal = new boolean[FAST * 4];

    private static long[] newFast() {
        long[] f = new long[FAST * 8];
        java.util.Arrays.fill(f, NO_TAG);
        return f;
    }
    /**
     * 1 while the processor makes implicit supervisor accesses (descriptor tables, the TSS, the
     * IDT), which are checked as supervisor accesses even at CPL 3 (SDM vol. 3, 4.6.1); else 0.
     * An int, so that {@link #userAccess} is arithmetic, not a branch (see there).
     */
    int supervisorAccess;

    /**
     * 1 when an access now is a user one (CPL 3, no implicit supervisor access), else 0: computed
     * without a branch. As a branch it was never taken while the JIT compiled the kernel's boot
     * paths, so the JIT put a trap there, and the first user-mode access deoptimized every
     * compiled method that had inlined the fast tables' lookup (15-38 deoptimizations a second
     * at the first user-space code of the Linux boot).
     */
    private int userAccess() {
        return ((cs & 3) + 1) >>> 2 & (supervisorAccess ^ 1);
    }
    volatile boolean tlbFlushRequested;
    final InvalidationListener flushOnChange = (binding, gpa, length, change) -> {
        tlbFlushRequested = true;
        codeFlushRequested = true; // a conversion may destroy or replace the bytes
    };

    // Decoded-instruction cache: per physical RAM page, the instructions decoded at each offset.
    // Invariant: every 64-byte chunk holding bytes of a decoded entry has its bit in the VM's
    // CodeMap, and a write touching such a chunk drops at once the writer's entries of the page
    // that hold a written byte, in their instruction or their compiled block (codeWritten,
    // CodePages.drop), and the other vCPUs' entries at their next serializing point (syncCode), so an entry
    // matches the bytes in RAM whenever x86 says it must. Data next to code costs nothing.
    final boolean decodedCache;
    CodePages codePages = new CodePages(0);
    final CodeMap codeMap;
    long seenEpoch;
    volatile boolean codeFlushRequested;
    Insn[] codePage;
    long codePageLin = -1;
    long codePagePhys;
    /**
     * Counts the events after which a linear address may no longer lead to the same decoded entry:
     * a TLB flush, a change of privilege, dropped entries. The decoded path's successor links
     * (Insn.next0/next1) hold only while it is unchanged.
     */
    long codeGen;

    /**
     * As codeGen, for the native blocks' jump table (NativeBlock.JUMPS, jumpTag): every event after
     * which a rip may lead to another native block, except two that leave most entries valid. A
     * change of privilege: the privilege is part of the tag instead. A CR3 write that keeps global
     * pages: it empties only the entries registered for code in pages not mapped global
     * (nonGlobalJumps), where bumping this dropped all (18,600 CR3 writes and 14,900 privilege
     * changes in a Linux boot, each followed by dispatcher runs of every block until registered again).
     */
    long jumpGen;
    /** The jump table (X86Vcpu.jumps), null until the first native run. */
    long[] jumps;
    /** The shared return an empty jump-table entry leads to (NativeCode.exit). */
    long jumpExit;
    /** Indexes into jumps of entries registered for code not mapped global since the last CR3 write (noteJump). */
    private final int[] nonGlobalJumps = new int[4096];
    private int nonGlobalCount;

    private final MemorySegment scratch = Arena.ofAuto().allocate(8, 8);

    void refreshRam() {
        long gen = view.table().generation();
        if (gen == ramGeneration) {
            return;
        }
        MemSlot slot = view.table().slotAt(0);
        ram = slot == null ? null : view.guestSegment(slot.id());
        ramSize = ram == null ? 0 : slot.size();
        ramDirect = ram != null && ram.isNative() && ram.scope().equals(HOST.scope());
        ramAddress = ramDirect ? ram.address() : 0;
        ramGeneration = gen;
        flushTlb();
        codePages = new CodePages(Math.min(ramSize, codeMap.coveredBytes())); // only what the code map covers is cached
    }

    void flushTlb() {
        java.util.Arrays.fill(tlb, 0);
        translationsDropped();
    }

    /** After TLB entries went: the fast tables (filled from them), the code page and the successor links that relied on them. */
    private void translationsDropped() {
        java.util.Arrays.fill(fast, NO_TAG);
        codeLin = -1;
        codePageLin = -1;
        codeGen++;
        jumpGen++;
        nonGlobalCount = 0;
    }

    /**
     * A CR3 write: the TLB keeps global pages' entries under CR4.PGE and drops the rest (SDM vol. 3,
     * 4.10.4.1). Linux maps its kernel global, and switches CR3 around every patch of its own
     * code (text_poke's temporary mm: about 17,000 of them in a boot, where it patches each LOCK
     * prefix away on one CPU) and at every switch between processes; without global entries each
     * of those refilled the kernel's translations by walks (2.4 M of the boot's 2.5 M walks). The
     * fast tables keep their global entries likewise.
     */
    void flushNonGlobal() {
        if ((cr4 & CR4_PGE) == 0) {
            flushTlb();
            return;
        }
        long[] t = tlb;
        boolean[] g = tlbGlobal;
        for (int s = 0; s < g.length; s++) {
            if (!g[s]) {
                t[2 * s] = 0;
            }
        }
        // The fast tables keep the entries filled from global TLB entries, which stay: after each
        // of text_poke's CR3 writes the kernel's stack, per-CPU data and text missed in them
        // otherwise, each miss a native block's return and a step (0.7 M a boot).
        long[] f = fast;
        boolean[] fg = fastGlobal;
        for (int e = 0; e < fg.length; e++) {
            if (!fg[e]) {
                f[2 * e] = NO_TAG;
            }
        }
        codeLin = -1;
        codePageLin = -1;
        codeGen++;
        dropNonGlobalJumps();
    }

    /** The jump-table entries of code in pages a CR3 write may have remapped: all of them, if more were registered than the list holds. */
    private void dropNonGlobalJumps() {
        long[] j = jumps;
        if (j != null) {
            if (nonGlobalCount > nonGlobalJumps.length) {
                jumpGen++;
            } else {
                for (int k = 0; k < nonGlobalCount; k++) {
                    int at = nonGlobalJumps[k];
                    j[at] = 0;
                    j[at + 1] = jumpExit;
                }
            }
        }
        nonGlobalCount = 0;
    }

    /**
     * Records that jump-table entry {@code at} now leads to the native block at {@code rip}: when
     * rip's page is not known to be mapped global (its fetch TLB entry, at this privilege), the
     * next CR3 write empties the entry.
     */
    final void noteJump(int at, long rip) {
        long vpn = rip >>> 12;
        int slot = (int) (vpn & (TLB - 1)) + FETCH * TLB + userAccess() * 3 * TLB;
        if (tlb[2 * slot] == vpn + 1 && tlbGlobal[slot]) {
            return;
        }
        int n = nonGlobalCount;
        if (n < nonGlobalJumps.length) {
            nonGlobalJumps[n] = at;
        }
        nonGlobalCount = n + 1; // past the list's length: the CR3 write empties the whole table (jumpGen)
    }

    /** What jump-table tags add to a rip now: jumpGen, and whether the code runs at CPL 3. */
    final long jumpTag() {
        return jumpGen << 49 | (long) (((cs & 3) + 1) >>> 2) << 48;
    }

    /** CPL changed: the code page cached past the TLB was checked at the old privilege. */
    void privilegeChanged() {
        codeLin = -1;
        codePageLin = -1;
        codeGen++;
    }

    void flushCode() {
        dropFastWrites();
        codePages.clear();
        codePageLin = -1; // the chunk bits stay: a later write there only drops an empty page
        codeGen++;
        jumpGen++;
    }

    /** Whether another vCPU wrote code since syncCode last looked. */
    final boolean codeEpochChanged() {
        return codeMap.epoch.get() != seenEpoch;
    }

    /** A serializing point: code another vCPU wrote since the last one must be decoded afresh. */
    void syncCode() {
        long e = codeMap.epoch.get();
        if (e != seenEpoch) {
            seenEpoch = e;
            flushCode();
        }
    }

    /**
     * A write into RAM: if it touches decoded bytes, this vCPU's entries holding them are dropped
     * and decoded again when run, and the epoch tells the other vCPUs. The range lies within one page.
     */
    final void codeWritten(long pa, int size) {
        long pfn = pa >>> 12;
        if ((codeMap.bitsPlain(pfn) & CodeMap.bits(pa, size)) != 0) {
            dropWrittenCode(pa, size);
        }
    }

    /** Out of line: most writes touch no decoded code. */
    private void dropWrittenCode(long pa, int size) {
        long pfn = pa >>> 12;
        int from = (int) (pa & 0xfff);
        long kept = codePages.drop(pfn, from, from + size);
        boolean single = codeMap.vcpus.get() == 1;
        if (codePages.dropped) {
            codeGen++; // successor links may name dropped entries
            jumpGen++;
            blockStop = true;
            if (codePagePhys >>> 12 == pfn) {
                codePageLin = -1;
            }
        } else if (single) {
            return; // data beside code: nothing decoded changed
        }
        if (single) {
            codeMap.clearPlain(pfn); // the only holder: the chunks of what stays are marked again
            if (kept != 0) {
                codeMap.mark(pfn, kept);
            }
        } else {
            long prev = codeMap.epoch.getAndIncrement();
            if (prev == seenEpoch) {
                seenEpoch = prev + 1; // our own write: nothing more to drop here
            }
        }
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

    long translate(long la, int kind) {
        if ((cr0 & CR0_PG) == 0) {
            return la & 0xffffffffL;
        }
        long vpn = la >>> 12;
        int user = userAccess();
        int slot = (int) (vpn & (TLB - 1)) + kind * TLB + user * 3 * TLB;
        long[] t = tlb;
        if (t[2 * slot] == vpn + 1) {
            return t[2 * slot + 1] | (la & 0xfff);
        }
        return walk(la, kind, slot, user);
    }

    /**
     * The #PF error code (SDM vol. 3, 4.7): P for a protection violation, W/R, U/S for an access at
     * CPL 3, RSVD, and I/D for an instruction fetch where NX or SMEP is in effect.
     */
    private long pfError(int kind, boolean user, int bits) {
        return bits | (kind == WRITE ? 2 : 0) | (user ? 4 : 0) | (kind == FETCH && (efer & EFER_NXE) != 0 ? 0x10 : 0);
    }

    /**
     * The page walk behind a TLB miss; {@code userAccess} is {@link #userAccess}'s 0 or 1, made a
     * boolean here: in translate, which the JIT inlines everywhere, the conversion was a branch the
     * kernel's boot never took, and the first user-mode walk deoptimized every method holding it.
     */
    private long walk(long la, int kind, int slot, int userAccess) {
        boolean user = userAccess != 0;
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
        boolean userPage = true;
        boolean noExec = false;
        long pageBase = 0;
        long leafEntry = 0;
        for (int level = 3; level >= 0; level--) {
            long entryAddr = table + ((la >>> (12 + 9 * level)) & 511) * 8;
            long e = physRead(entryAddr, 8);
            if ((e & PTE_P) == 0) {
                cr2 = la;
                throw fault(VEC_PF, pfError(kind, user, 0));
            }
            if ((e & PTE_RESERVED & ~cbit) != 0) {
                // Above MAXPHYADDR: an entry read from memory nobody backs (all-ones) ends here, as on hardware.
                cr2 = la;
                throw fault(VEC_PF, pfError(kind, user, PF_RSVD | 1));
            }
            writable &= (e & PTE_W) != 0;
            userPage &= (e & PTE_U) != 0;
            noExec |= (e & PTE_NX) != 0 && (efer & EFER_NXE) != 0;
            boolean leaf = level == 0 || (level <= 2 && level >= 1 && (e & PTE_PS) != 0);
            long want = e | PTE_A | (leaf && kind == WRITE ? PTE_D : 0);
            if (leaf) {
                // A user access needs U/S set at every level and, to write, R/W set at every level; a
                // supervisor write to a read-only page faults only under CR0.WP (SMAP and SMEP are not offered).
                boolean denied = user ? !userPage || (kind == WRITE && !writable)
                        : kind == WRITE && !writable && (cr0 & CR0_WP) != 0;
                if (denied || (kind == FETCH && noExec)) {
                    cr2 = la;
                    throw fault(VEC_PF, pfError(kind, user, 1));
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
        tlb[2 * slot] = (la >>> 12) + 1;
        tlb[2 * slot + 1] = pageBase;
        tlbGlobal[slot] = (leafEntry & PTE_G) != 0 && (cr4 & CR4_PGE) != 0;
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

    long physRead(long pa, int size) {
        if (pa >= 0 && pa + size <= ramSize) {
            long v = ramDirect ? get(HOST, ramAddress + pa, size) : get(ram, pa, size);
            // x86 orders a load before later loads and stores (TSO); keep the JIT from moving them.
            VarHandle.acquireFence();
            return v;
        }
        return deviceRead(pa, size);
    }

    // Called with HOST, a constant, on one branch and ram on the other, so that the JIT inlines
    // each separately and folds the constant's checks (the other branch, never taken, is not compiled).
    private static long get(MemorySegment m, long at, int size) {
        return switch (size) {
            case 1 -> m.get(ValueLayout.JAVA_BYTE, at) & 0xffL;
            case 2 -> m.get(ValueLayout.JAVA_SHORT_UNALIGNED, at) & 0xffffL;
            case 4 -> m.get(ValueLayout.JAVA_INT_UNALIGNED, at) & 0xffffffffL;
            default -> m.get(ValueLayout.JAVA_LONG_UNALIGNED, at);
        };
    }

    private static void set(MemorySegment m, long at, int size, long v) {
        switch (size) {
            case 1 -> m.set(ValueLayout.JAVA_BYTE, at, (byte) v);
            case 2 -> m.set(ValueLayout.JAVA_SHORT_UNALIGNED, at, (short) v);
            case 4 -> m.set(ValueLayout.JAVA_INT_UNALIGNED, at, (int) v);
            default -> m.set(ValueLayout.JAVA_LONG_UNALIGNED, at, v);
        }
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
        if (apic != null && (pa & ~0xfffL) == apic.mmioBase()) {
            return size == 4 ? apic.readMmio(pa & 0xfff) : 0; // other sizes: undefined on hardware
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
    long portRead(int port, int size) {
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
            accesses.own(retired + pos, blockAddress(b.offsets[pos]));
        }
        return accesses;
    }

    void physWrite(long pa, int size, long v) {
        if (pa >= 0 && pa + size <= ramSize) {
            VarHandle.releaseFence(); // x86 orders a store after earlier loads and stores (TSO)
            if (ramDirect) {
                set(HOST, ramAddress + pa, size, v);
            } else {
                set(ram, pa, size, v);
            }
            codeWritten(pa, size);
            return;
        }
        deviceWrite(pa, size, v);
    }

    /** A write outside RAM: the local APIC, another slot through the view, else an MMIO exit. */
    private void deviceWrite(long pa, int size, long v) {
        if (apic != null && (pa & ~0xfffL) == apic.mmioBase()) {
            int kind = AccessLog.kind(AccessLog.MMIO_WRITE, size);
            if (ownAccesses().find(pa, kind) < 0) { // once, also when the instruction runs again
                accesses.add(pa, kind);
                if (size == 4) {
                    apic.writeMmio(pa & 0xfff, v);
                }
            }
            blockStop = true; // an EOI or TPR write may let an interrupt in: look at the next boundary
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

    // rd and wr stay small, their page-crossing paths out of line, so that the JIT inlines
    // translate's TLB hit and physRead/physWrite's RAM access into them. Under bin/vmm, rd, wr,
    // push and pop (and rd1..wr8 below) are themselves compiled once and called, not inlined into
    // their callers (CompileCommand dontinline in the distribution's lib/jvm.args, by name: renaming
    // one means changing it there too, which JvmArgsTest checks), which cut the JIT's CPU on the
    // Linux boot by a third (benchmarks/results/2026-12-02-session14-noinline.md).
    long rd(long la, int size) {
        return read(la, size);
    }

    // The same for one size each, which compiled blocks' load1..store8 call when the fast tables
    // miss (their sizes are constants): compiled once each with the size folded, so the size
    // switches and their spills go, and named by the same dontinline in lib/jvm.args.
    final long rd1(long la) {
        return read(la, 1);
    }

    final long rd2(long la) {
        return read(la, 2);
    }

    final long rd4(long la) {
        return read(la, 4);
    }

    final long rd8(long la) {
        return read(la, 8);
    }

    final void wr1(long la, long v) {
        write(la, 1, v);
    }

    final void wr2(long la, long v) {
        write(la, 2, v);
    }

    final void wr4(long la, long v) {
        write(la, 4, v);
    }

    final void wr8(long la, long v) {
        write(la, 8, v);
    }

    private long read(long la, int size) {
        int i = fastSlot(la, 0);
        if (fastHit(fast, i, la, size)) {
            return hostRead(la + fast[i + 1], size);
        }
        if ((la & 0xfff) + size > 4096) {
            return rdSplit(la, size);
        }
        long pa = translate(la, READ);
        fill(i, la, pa);
        return physRead(pa, size);
    }

    /**
     * Whether entry i (la's slot) holds the page of an access of {@code size} bytes at la: the page
     * of its last byte is the tag only when its first byte's is too (a page's slot is a function of
     * its number), so an access that crosses pages never hits, one unaligned inside a page does.
     */
    private static boolean fastHit(long[] entries, int i, long la, int size) {
        return entries[i] == (la + size - 1 & ~0xfffL);
    }

    /** The index in {@link #fast} of the tag for linear address la; {@code write} is 0 or FAST_WRITE. */
    private int fastSlot(long la, int write) {
        return fastSlotIn(fastTables(), la, write);
    }

    /** Fills entry i for the page of la, which translate just took to physical pa, when the page may be reached through it. */
    private void fill(int i, long la, long pa) {
        long page = pa & ~0xfffL;
        if ((cr0 & CR0_PG) == 0 || !ramDirect || !checkCoco || page < 0 || page + 4096 > ramSize) {
            return;
        }
        if ((i / 2 / FAST & FAST_WRITE) != 0 && (codeMap.vcpus.get() != 1 || codeMap.bitsPlain(page >>> 12) != 0)) {
            return;
        }
        fast[i] = la & ~0xfffL;
        fast[i + 1] = ramAddress + page - (la & ~0xfffL);
        // The TLB entry translate just used (the same kind and privilege as this table): global or not.
        fastGlobal[i >>> 1] = tlbGlobal[(int) ((la >>> 12) & (TLB - 1)) + (i / 2 / FAST & FAST_WRITE) * TLB + userAccess() * 3 * TLB];
    }

    /** Code was decoded in physical page pfn for the first time: a store there must drop it, so no write entry may lead there. */
    final void codeMarked(long pfn) {
        long host = ramAddress + (pfn << 12);
        for (int t = FAST_WRITE; t < 4; t += 2) {
            for (int i = 2 * t * FAST; i < 2 * (t + 1) * FAST; i += 2) {
                if (fast[i] != NO_TAG && fast[i] + fast[i + 1] == host) {
                    fast[i] = NO_TAG;
                }
            }
        }
    }

    private void dropFastWrites() {
        for (int t = FAST_WRITE; t < 4; t += 2) {
            java.util.Arrays.fill(fast, 2 * t * FAST, 2 * (t + 1) * FAST, NO_TAG);
        }
    }

    private static long hostRead(long host, int size) {
        long v = get(HOST, host, size);
        VarHandle.acquireFence(); // as physRead
        return v;
    }

    private static void hostWrite(long host, int size, long v) {
        VarHandle.releaseFence(); // as physWrite
        set(HOST, host, size, v);
    }

    /** The fast tables themselves: what a compiled block passes to load1..store8, taken at its entry (BlockCompiler). */
    final long[] fastArray() {
        return fast;
    }

    /**
     * Where the fast tables of the current privilege start in {@link #fast} (the read table; the
     * write table follows at 2 * FAST * FAST_WRITE): what a compiled block passes to load1..store8,
     * taken at its entry (BlockCompiler). Valid while the privilege stays; nothing inside a block
     * changes it.
     */
    final int fastTables() {
        return 2 * FAST * userAccess() * FAST_USER;
    }

    // Compiled blocks' loads and stores, one per size (a constant there): the fast tables' hit
    // inline in the block, small enough for the JIT to inline; a miss calls rd1..wr8, compiled once.
    // entries and tables: fastArray() and fastTables() at the block's entry, held in its locals (the
    // JIT would otherwise load the array and its length again after every access's fence).
    final long load1(long la, long[] entries, int tables) {
        return load(la, 1, entries, tables);
    }

    final long load2(long la, long[] entries, int tables) {
        return load(la, 2, entries, tables);
    }

    final long load4(long la, long[] entries, int tables) {
        return load(la, 4, entries, tables);
    }

    final long load8(long la, long[] entries, int tables) {
        return load(la, 8, entries, tables);
    }

    final void store1(long la, long v, long[] entries, int tables) {
        store(la, 1, v, entries, tables);
    }

    final void store2(long la, long v, long[] entries, int tables) {
        store(la, 2, v, entries, tables);
    }

    final void store4(long la, long v, long[] entries, int tables) {
        store(la, 4, v, entries, tables);
    }

    final void store8(long la, long v, long[] entries, int tables) {
        store(la, 8, v, entries, tables);
    }

    /** As {@link #fastSlot}, from the start of the privilege's tables (fastTables), which a block takes once. */
    private static int fastSlotIn(int tables, long la, int write) {
        return tables + 2 * (write * FAST + ((int) (la >>> 12) & (FAST - 1)));
    }

    private long load(long la, int size, long[] entries, int tables) {
        int i = fastSlotIn(tables, la, 0);
        if (fastHit(entries, i, la, size)) {
            return hostRead(la + entries[i + 1], size);
        }
        return switch (size) {
            case 1 -> rd1(la);
            case 2 -> rd2(la);
            case 4 -> rd4(la);
            default -> rd8(la);
        };
    }

    private void store(long la, int size, long v, long[] entries, int tables) {
        int i = fastSlotIn(tables, la, FAST_WRITE);
        if (fastHit(entries, i, la, size)) {
            hostWrite(la + entries[i + 1], size, v);
            return;
        }
        switch (size) {
            case 1 -> wr1(la, v);
            case 2 -> wr2(la, v);
            case 4 -> wr4(la, v);
            default -> wr8(la, v);
        }
    }

    private long rdSplit(long la, int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= physRead(translate(la + i, READ), 1) << (8 * i);
        }
        return v;
    }

    void wr(long la, int size, long v) {
        write(la, size, v);
    }

    private void write(long la, int size, long v) {
        int i = fastSlot(la, FAST_WRITE);
        if (fastHit(fast, i, la, size)) {
            hostWrite(la + fast[i + 1], size, v);
            return;
        }
        if ((la & 0xfff) + size > 4096) {
            wrSplit(la, size, v);
            return;
        }
        long pa = translate(la, WRITE);
        fill(i, la, pa);
        physWrite(pa, size, v);
    }

    private void wrSplit(long la, int size, long v) {
        // Translate every byte first: a fault must leave memory unchanged.
        long[] pa = new long[size];
        for (int i = 0; i < size; i++) {
            pa[i] = translate(la + i, WRITE);
        }
        for (int i = 0; i < size; i++) {
            physWrite(pa[i], 1, v >>> (8 * i));
        }
    }

    /** The code page being executed: its linear base and, when it is RAM, its physical base. */
    long codeLin = -1;
    long codePhys;

    void push(long v, int size) {
        long sp = r[RSP] - size;
        write(code64 ? sp : sp & 0xffffffffL, size, v);
        r[RSP] = code64 ? sp : (r[RSP] & ~0xffffffffL) | (sp & 0xffffffffL);
    }

    long pop(int size) {
        long sp = r[RSP];
        long v = read(code64 ? sp : sp & 0xffffffffL, size);
        r[RSP] = sp + size;
        return v;
    }

    /**
     * False while PVALIDATE translates its operand: it names a page without touching it, so neither
     * validation nor the private/shared state is checked.
     */
    boolean checkCoco = true;

    Memory(Wiring w) {
        super(w);
        decodedCache = w.decodedCache();
        codeMap = w.codeMap();
        if (codeMap.vcpus.incrementAndGet() > 1) {
            codeMap.epoch.incrementAndGet(); // the others drop their fast write entries (flushCode), which assume one vCPU
        }
        seenEpoch = codeMap.epoch.get();
    }
}
