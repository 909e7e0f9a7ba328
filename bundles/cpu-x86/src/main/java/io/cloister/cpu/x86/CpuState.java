package io.cloister.cpu.x86;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.memory.GuestView;

/**
 * The architectural state of an x86-64 vCPU (registers, control registers, descriptor tables,
 * segment bases), what it is wired to (guest view, CPU model, confidential-computing backend), and
 * the exits and faults an instruction reports. The bottom of the chain of classes that make up
 * {@link X86Vcpu}, one concern per file: {@link Memory}, {@link Alu}, {@link Operands},
 * {@link Exceptions}, {@link ControlFlow}, {@link Strings}, {@link CocoInsns}, {@link SystemInsns},
 * {@link Interpreter}, {@link DecodedPath}, {@link X86Vcpu}. It is one object (one vCPU) whose code
 * is split by concern, the way Bochs spreads its CPU class over {@code cpu/*.cc}; each class sees
 * the ones below it, and the JIT sees one final class.
 */
abstract class CpuState {
    // Control register bits
    static final long CR0_PE = 1;
    /** Extension type: hardwired to one since the 486. */
    static final long CR0_ET = 1L << 4;
    static final long CR0_WP = 1L << 16;
    static final long CR0_PG = 1L << 31;
    static final long CR4_DE = 1L << 3;
    static final long CR4_PAE = 1L << 5;
    /** Global pages: a CR3 write keeps the TLB entries of pages whose leaf entry has G set. */
    static final long CR4_PGE = 1L << 7;
    static final long EFER_LME = 1L << 8;
    static final long EFER_LMA = 1L << 10;
    static final long EFER_NXE = 1L << 11;
    static final long PTE_P = 1;
    static final long PTE_W = 2;
    static final long PTE_U = 4;
    static final long PTE_A = 1L << 5;
    static final long PTE_D = 1L << 6;
    static final long PTE_PS = 1L << 7;
    static final long PTE_G = 1L << 8;
    static final long PTE_NX = 1L << 63;
    static final long PTE_ADDR = 0x000ffffffffff000L;
    /** Address bits 51:48 of an entry: reserved, MAXPHYADDR being 48 (CPUID 0x80000008). */
    static final long PTE_RESERVED = 0x000f000000000000L;
    static final int PF_RSVD = 8;

    static final int RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;
    static final int READ = 0, WRITE = 1, FETCH = 2;
    static final int TLB = 256;
    static final int SEG_NONE = 0, SEG_FS = 1, SEG_GS = 2;

    static final int VEC_DE = 0, VEC_NMI = 2, VEC_BP = 3, VEC_UD = 6, VEC_DF = 8, VEC_NP = 11, VEC_GP = 13, VEC_PF = 14;

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

    final Fault fault = new Fault();
    final Retry retry = new Retry();

    final int index;
    final GuestView view;
    final X86Engine.Model model;
    final CocoCpu coco;

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
    // Segmentation outside long mode (RealMode): the hidden parts of the segment registers as
    // loaded, which 32-bit flat code never needs (all bases 0, 4 GiB limits).
    static final int SEG_ES = 0, SEG_CS = 1, SEG_SS = 2, SEG_DS = 3;
    /** The bases of ES, CS, SS and DS as loaded (FS and GS: fsBase, gsBase). */
    final long[] sbase = new long[4];
    /** The limits of ES, CS, SS, DS, FS and GS as loaded (64 KiB in real mode). */
    final long[] slimit = {0xffffffffL, 0xffffffffL, 0xffffffffL, 0xffffffffL, 0xffffffffL, 0xffffffffL};
    /** CS selects 16-bit code (real mode, or a code segment with D = 0): 16-bit operand and address size. */
    boolean code16;
    /** SS is a 16-bit stack (B = 0): SP, not ESP. */
    boolean stack16;
    /** The CS selector as real mode shows it (MOV from CS, the frames of far calls and interrupts); cs stays 0 there, CPL 0. */
    int realCs;
    /**
     * Real mode, 16-bit code or a segment with a base: the interpreter runs every instruction (with
     * the bases, limits and 16-bit forms); the decoded path and compiled blocks never see such code.
     */
    boolean legacy;

    /** Recomputes {@link #legacy} after a change of CR0, EFER.LMA, CS or a segment. */
    void updateMode() {
        legacy = !code64 && (efer & EFER_LMA) == 0
                && ((cr0 & CR0_PE) == 0 || code16 || stack16 || (sbase[0] | sbase[1] | sbase[2] | sbase[3]) != 0);
    }

    /** x87, MMX and SSE state (FpuInsns, X87Insns, SseInsns). */
    final FpuState fpu = new FpuState();

    // Compiled blocks (BlockCompiler): pos counts the instructions a block completed; blockStop
    // ends a block after a write that hit code or MMIO; the block running and its rip.
    int pos;
    boolean blockStop;
    Block currentBlock;
    long blockRip;

    /** The rip {@code offset} bytes into the running block (an instruction's start or end), wrapped as the code size wraps it. */
    final long blockAddress(long offset) {
        long at = blockRip + offset;
        return code64 ? at : at & 0xffffffffL;
    }

    /** Whether the instruction has a REX prefix: then byte registers 4-7 are SPL-DIL, not AH-BH. */
    boolean rexPresent;

    // Exits

    Exit pendingExit;
    /** Exits an instruction reported beyond the first (an MMIO write, then a read it must wait for): returned in order. */
    final java.util.ArrayDeque<Exit> moreExits = new java.util.ArrayDeque<>();
    /** Where the VMM's answer to the exit reported last goes; null: nowhere. */
    Awaiting awaiting;
    /** The device accesses of the instruction being run, replayed when it runs again after an exit. */
    final AccessLog accesses = new AccessLog();

    long retired;

    // Interrupts (issue 14): the local APIC and what an instruction boundary needs of it
    /** This vCPU's local APIC, or null where the engine runs without one (engine tests without a VMM). */
    io.cloister.cpu.x86.apic.LocalApic apic;
    /** After HLT with RFLAGS.IF set (or INIT, for an AP): the vCPU waits in its APIC until it can take something. */
    boolean halted;
    /** The {@link #retired} count at whose boundary an STI or MOV SS holds off maskable interrupts (SDM 6.8.3). */
    long shadowRetired = -1;
    /** An NMI handler runs: the next NMI waits for its IRET (SDM 6.7.1). */
    boolean nmiBlocked;

    /** The first exit the last instruction reported; the next one, if any, waits for the next run(). */
    Exit takeExit() {
        Exit e = pendingExit;
        pendingExit = moreExits.poll();
        return e;
    }

    /** An exit after (or, for a read, instead of the end of) this instruction; several are returned in order. */
    void report(Exit e) {
        if (pendingExit == null) {
            pendingExit = e;
        } else {
            moreExits.add(e);
        }
    }

    // ---------------------------------------------------------------- faults and registers

    Fault fault(int vector) {
        fault.vector = vector;
        fault.hasError = false;
        fault.error = 0;
        return fault;
    }

    Fault fault(int vector, long error) {
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

    Fault ud() {
        return fault(VEC_UD);
    }

    long flags() {
        return rflags | Flags.FIXED;
    }

    long getReg(int reg, int size) {
        if (size == 1) {
            return byteReg(r, reg, rexPresent);
        }
        return size == 8 ? r[reg] : r[reg] & Flags.mask(size);
    }

    /** A byte register as an instruction names it: without a REX prefix, 4 to 7 are AH, CH, DH and BH. */
    static long byteReg(long[] r, int reg, boolean rex) {
        return highByte(reg, rex) ? (r[reg - 4] >>> 8) & 0xff : r[reg] & 0xff;
    }

    /** Whether byte register {@code reg} is bits 8-15 of register reg - 4 (AH, CH, DH, BH: no REX prefix). */
    static boolean highByte(int reg, boolean rex) {
        return !rex && reg >= 4 && reg < 8;
    }

    /** The register that holds byte register {@code reg}: reg, or reg - 4 for AH..BH. */
    static int byteRegHome(int reg, boolean rex) {
        return highByte(reg, rex) ? reg - 4 : reg;
    }

    /** Where in its home register ({@link #byteRegHome}) byte register {@code reg} starts: bit 8 for AH..BH, else 0. */
    static int byteRegShift(int reg, boolean rex) {
        return highByte(reg, rex) ? 8 : 0;
    }

    void setReg(int reg, int size, long v) {
        switch (size) {
            case 1 -> {
                if (highByte(reg, rexPresent)) {
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

    /** A preallocated signal: the locked operand changed under us; the instruction runs again. */
    static final class Restart extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Restart() {
            super(null, null, false, false);
        }
    }

    final Restart restart = new Restart();

    // ---------------------------------------------------------------- confidential computing

    /** A TD: the backend defines CPUID leaf 0x21. */
    boolean tdx() {
        return coco.cpuid(0x21, 0) != null;
    }

    boolean snp() {
        int[] sev = coco.cpuid(0x8000001f, 0);
        return sev != null && (sev[0] & (1 << 4)) != 0;
    }

    /** The C-bit mask under SEV/SNP (CPUID 0x8000001F EBX[5:0]), else 0. */
    long sevCbit() {
        int[] sev = coco.cpuid(0x8000001f, 0);
        return sev == null || (sev[0] & 2) == 0 ? 0 : 1L << (sev[1] & 63);
    }

    /** What a vCPU is wired to, handed up the chain of constructors. */
    record Wiring(int index, GuestView view, X86Engine.Model model, CocoCpu coco, boolean decodedCache, CodeMap codeMap) {
    }

    CpuState(Wiring w) {
        index = w.index();
        view = w.view();
        model = w.model();
        coco = w.coco();
    }
}
