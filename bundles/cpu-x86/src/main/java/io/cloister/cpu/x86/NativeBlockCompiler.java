package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.X64.R10;
import static io.cloister.cpu.x86.X64.R11;
import static io.cloister.cpu.x86.X64.R12;
import static io.cloister.cpu.x86.X64.R14;
import static io.cloister.cpu.x86.X64.R15;
import static io.cloister.cpu.x86.X64.R8;
import static io.cloister.cpu.x86.X64.RAX;
import static io.cloister.cpu.x86.X64.RBP;
import static io.cloister.cpu.x86.X64.RBX;
import static io.cloister.cpu.x86.X64.RCX;
import static io.cloister.cpu.x86.X64.RDX;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Compiles a region of 64-bit code to host x86-64 code ({@link NativeBlock}) when its first
 * instruction is of a form {@link NativeForms} covers; else null, and the region becomes a bytecode
 * block as before. The guest's arithmetic flags are the host's own: each guest ALU instruction
 * runs as the same host instruction on the guest's values, so its flags are exact by construction.
 *
 * <p>Host registers as {@link NativeFrame} sets them; RAX, RCX, RDX, R8, R9 scratch, R11 the guest
 * flags while a memory lookup's compare holds the host's. Invariants: every guest
 * memory access goes through a fast-table entry (RAM the guest may reach at this privilege, a
 * write entry never a page holding decoded code), else the block returns before that instruction,
 * which the decoded path then runs; the count in R15 and the flags are flushed to the context at
 * every return, and nothing else of the vCPU changes. At a branch target inside the block the
 * guest flags are in the host's flags and R15 is up to date.
 */
final class NativeBlockCompiler {
    private NativeBlockCompiler() {
    }

    /** Whether native blocks are made at all: on x86-64 Linux unless cloister.x86.native=false. */
    static volatile boolean enabled = !"false".equals(System.getProperty("cloister.x86.native")) && NativeCode.supported();

    /**
     * A native block for the region, or null where its first instruction is of a form not here or
     * the arena is full. At any later instruction of a form not here the block returns to the
     * dispatcher, which runs it (and, once it is hot, compiles a block from there).
     */
    static NativeBlock compile(Region region) {
        if (!NativeForms.supported(region.insns().get(0))) {
            return null;
        }
        NativeBlockCompiler.Emit e = new Emit(region);
        byte[] code = e.block();
        MemorySegment at = NativeCode.install(code);
        return at == null ? null : new NativeBlock(at, e.chainEntry, e.flagsIn);
    }

    /** One region's code. */
    private static final class Emit {
        private final Region region;
        private final List<Insn> insns;
        private final int[] starts;
        private final X64 a = new X64();
        private final X64.Label[] labels;
        private final boolean[] target;
        private final X64.Label exitHostFlags = new X64.Label();
        private final X64.Label exitCommon = new X64.Label();
        /** Out-of-line returns, emitted after the body: each a rip offset, a count to add and where the flags are. */
        private final List<Stub> stubs = new ArrayList<>();
        /** Instructions completed on this path since R15 was last brought up to date. */
        private int pending;
        /** Whether the guest flags are in R11 (a lookup's compare took the host's) rather than in the host's flags. */
        private boolean flagsInR11;
        /** Whether the block reads flags it did not write first: NativeBlock then materializes them at entry. */
        boolean flagsIn;

        private record Stub(X64.Label label, int ripOffset, int count, boolean flagsInR11, boolean backEdgeBudget, boolean chain) {
        }

        /** Where a run entered from another block's chain starts (after the prologue's count and flags). */
        int chainEntry;

        private final X64.Label chain = new X64.Label();

        Emit(Region region) {
            this.region = region;
            this.insns = region.insns();
            this.starts = region.starts();
            this.labels = new X64.Label[insns.size()];
            this.target = new boolean[insns.size()];
            for (int k = 0; k < insns.size(); k++) {
                labels[k] = new X64.Label();
            }
            for (int k = 0; k < insns.size(); k++) {
                Insn in = insns.get(k);
                if (in.kind == Insn.JCC || in.kind == Insn.JMP) {
                    int j = indexAt(branchTarget(k));
                    if (j >= 0) {
                        target[j] = true;
                    }
                }
            }
            flagsIn = readsFlagsFirst();
        }

        /** The instruction starting at byte offset {@code off} from the block's start, or -1. */
        private int indexAt(long off) {
            if (off < 0 || off > Integer.MAX_VALUE) {
                return -1;
            }
            int i = java.util.Arrays.binarySearch(starts, 0, insns.size(), (int) off);
            return i >= 0 ? i : -1;
        }

        private long branchTarget(int k) {
            Insn in = insns.get(k);
            return starts[k] + in.len + in.imm;
        }

        /**
         * Whether some path from the entry reaches an instruction that reads the flags before one
         * that writes all six: then the flags standing at entry are needed. Conservatively, any
         * reader not preceded, in address order and without a branch target between, by a writer.
         */
        private boolean readsFlagsFirst() {
            boolean written = false;
            for (int k = 0; k < insns.size(); k++) {
                if (target[k]) {
                    written = false; // another path comes in here
                }
                Insn in = insns.get(k);
                if (NativeForms.readsFlags(in) && !written) {
                    return true;
                }
                if (NativeForms.writesAllFlags(in)) {
                    written = true;
                }
            }
            return false;
        }

        byte[] block() {
            chainEntry = NativeFrame.prologue(a, flagsIn);
            for (int k = 0; k < insns.size(); k++) {
                if (target[k]) {
                    settle();
                    a.bind(labels[k]);
                }
                insn(k);
            }
            for (BackEdge e : backEdges) {
                a.bind(e.check);
                a.movRR(RCX, RBP);
                a.jrcxzShort(9); // over the LEA (4 bytes) and the JMP (5) to the JMP to spent
                a.lea(RBP, RBP, X64.NO_INDEX, 0, -1);
                a.jmp(e.loop);
                a.jmp(e.spent);
            }
            for (Stub s : stubs) {
                a.bind(s.label);
                if (s.backEdgeBudget) {
                    // flags are in the host's; R15 is up to date
                    a.lea(RAX, R10, X64.NO_INDEX, 0, s.ripOffset);
                    a.jmp(exitHostFlags);
                    continue;
                }
                if (s.count != 0) {
                    a.lea(R15, R15, X64.NO_INDEX, 0, s.count);
                }
                if (s.chain) {
                    if (s.flagsInR11) {
                        restoreFlags();
                    }
                    a.lea(RAX, R10, X64.NO_INDEX, 0, s.ripOffset);
                    a.jmp(chain);
                    continue;
                }
                a.lea(RAX, R10, X64.NO_INDEX, 0, s.ripOffset);
                if (s.flagsInR11) {
                    a.store(R14, 8 * NativeBlock.CTX_FLAGS, R11);
                    a.jmp(exitCommon);
                } else {
                    a.jmp(exitHostFlags);
                }
            }
            NativeFrame.chain(a, chain, exitHostFlags);
            a.bind(exitHostFlags);
            NativeFrame.epilogue(a, exitCommon);
            return a.bytes();
        }

        /** Brings R15 up to date and the flags into the host's: what a branch target expects. */
        private void settle() {
            flushCount(0);
            hostFlags();
        }

        private void flushCount(int extra) {
            int c = pending + extra;
            if (c != 0) {
                a.lea(R15, R15, X64.NO_INDEX, 0, c);
            }
            pending = 0;
        }

        /** The guest flags back from R11 into the host's (RAX is free between instructions): OF by an ADD that overflows or not, the rest by SAHF. */
        private void hostFlags() {
            if (!flagsInR11) {
                return;
            }
            restoreFlags();
            flagsInR11 = false;
        }

        private void restoreFlags() {
            a.u8(0x44); // mov eax, r11d
            a.u8(0x89);
            a.u8(0xd8);
            a.u8(0xc1); // shr eax, 4: OF (bit 11) to bit 7
            a.u8(0xe8);
            a.u8(4);
            a.u8(0x25); // and eax, 0x80
            a.u32(0x80);
            a.u8(0x04); // add al, 0x80: overflows exactly when al is 0x80
            a.u8(0x80);
            a.u8(0x44); // mov eax, r11d
            a.u8(0x89);
            a.u8(0xd8);
            a.u8(0x88); // mov ah, al
            a.u8(0xc4);
            a.u8(0x9e); // sahf: SF ZF AF PF CF
        }

        /** The host's flags (the guest's) to R11, where they stay while what follows takes the host's. */
        private void flagsToR11() {
            a.pushf();
            a.pop(R11);
            flagsInR11 = true;
        }

        /** Clears {@code bits} of the flags in R11: the engine's rule for flags x86 leaves undefined. */
        private void clearInR11(long bits) {
            a.rr(true, 0x81, 4, R11); // and r11, ~bits
            a.u32((int) ~bits);
        }

        /** Marks the guest flags as written by the block (NativeBlock takes them from the context then). */
        private void wroteFlags() {
            a.rm(true, 0xc7, 0, R14, X64.NO_INDEX, 0, 8 * NativeBlock.CTX_WROTE);
            a.u32(1);
            flagsInR11 = false;
        }

        private int reg(int r) {
            return 8 * r;
        }

        /** Where a guest register operand of {@code size} bytes lies in the register array: AH..BH are the second byte of RAX..RBX. */
        private int operand(Insn in, int r, int size) {
            return size == 1 && !in.rex && r >= 4 && r < 8 ? 8 * (r - 4) + 1 : 8 * r;
        }

        /** Loads guest register r into host register h. */
        private void getReg(int h, int r) {
            a.load(h, R12, reg(r));
        }

        /** Stores host RAX into guest register r: 8 bytes; a 4-byte result is zero-extended already (a 32-bit host op or load). */
        private void setReg(int r) {
            a.store(R12, reg(r), RAX);
        }

        /** RCX = the host address of the stack slot a push by instruction k writes (RSP - 8), or the block returns before k. */
        private void pushSlot(int k) {
            getReg(RCX, CpuState.RSP);
            a.lea(RCX, RCX, X64.NO_INDEX, 0, -8);
            lookup(k, 8, true);
        }

        /** RSP less 8, after the push wrote its slot. */
        private void pushed() {
            addToRsp(-8);
        }

        /** RCX = the host address of the stack slot a pop by instruction k reads ([RSP]), or the block returns before k. */
        private void popSlot(int k) {
            getReg(RCX, CpuState.RSP);
            lookup(k, 8, false);
        }

        /** RSP plus 8 (RAX taken), the slot's address still in RCX. */
        private void popped() {
            addToRsp(8);
        }

        private void addToRsp(int n) {
            getReg(RAX, CpuState.RSP);
            a.lea(RAX, RAX, X64.NO_INDEX, 0, n);
            setReg(CpuState.RSP);
        }

        /** A call's push (its slot in RCX, pushSlot): the address after instruction k. */
        private void pushReturnAddress(int k) {
            a.lea(RAX, R10, X64.NO_INDEX, 0, starts[k] + insns.get(k).len);
            a.store(RCX, 0, RAX);
            pushed();
        }

        /** Stores the low {@code size} bytes of RAX into guest register r: 4 zero-extended to 8, 1 and 2 merged into what stands. */
        private void storeOperand(Insn in, int r, int size) {
            if (size == 4 || size == 8) {
                setReg(r); // the load of 4 bytes zero-extended RAX
            } else {
                a.storeSized(size, R12, operand(in, r, size), RAX);
            }
        }

        /** Leaves for the linear address in host register {@code h} (RAX is free for it), through the chain. */
        private void exitTo(int h) {
            flushCount(0);
            hostFlags(); // takes RAX
            a.movRR(RAX, h);
            a.jmp(chain);
        }

        /** RCX = the linear address of instruction k's memory operand (with the FS/GS base unless {@code lea}); no flags touched. */
        private void address(int k, boolean lea) {
            Insn in = insns.get(k);
            int disp = (int) in.disp;
            if (in.base >= 0) {
                getReg(RCX, in.base);
            } else if (in.ripRelative) {
                a.lea(RCX, R10, X64.NO_INDEX, 0, starts[k] + in.len);
            } else {
                a.movImm(RCX, 0);
            }
            if (in.index >= 0) {
                getReg(RDX, in.index);
                a.lea(RCX, RCX, RDX, in.scale, disp);
            } else if (disp != 0) {
                a.lea(RCX, RCX, X64.NO_INDEX, 0, disp);
            }
            if (!lea && (in.seg == CpuState.SEG_FS || in.seg == CpuState.SEG_GS)) {
                a.load(RDX, R14, 8 * (in.seg == CpuState.SEG_FS ? NativeBlock.CTX_FS : NativeBlock.CTX_GS));
                a.lea(RCX, RCX, RDX, 0, 0);
            }
        }

        /**
         * RCX, a linear address, made the host address of its {@code size} bytes through the fast
         * tables (read or write); on a miss the block returns before instruction k. The compare
         * takes the host's flags: the guest's go to R11 first.
         */
        private void lookup(int k, int size, boolean write) {
            if (!flagsInR11) {
                flagsToR11();
            }
            int table = write ? 16 * Memory.FAST : 0;
            a.movRR(RDX, RCX);
            a.u8(0x48); // shr rdx, 12
            a.u8(0xc1);
            a.u8(0xea);
            a.u8(12);
            a.u8(0x81); // and edx, FAST - 1: the page's slot
            a.u8(0xe2);
            a.u32(Memory.FAST - 1);
            a.u8(0xc1); // shl edx, 4: 16 bytes a slot (tag, then what gives the host address)
            a.u8(0xe2);
            a.u8(4);
            // The page of the access's last byte against the tag of its first byte's slot: equal
            // only when both bytes are in the entry's page (a page's slot is a function of its
            // number), so an unaligned access inside a page hits and one that crosses misses.
            if (size == 1) {
                a.movRR(R8, RCX);
            } else {
                a.lea(R8, RCX, X64.NO_INDEX, 0, size - 1);
            }
            a.u8(0x49); // and r8, ~0xfff
            a.u8(0x81);
            a.u8(0xe0);
            a.u32(~0xfff);
            a.rm(true, 0x3b, R8, RBX, RDX, 0, table); // cmp r8, [rbx + rdx + table]
            X64.Label miss = new X64.Label();
            stubs.add(new Stub(miss, starts[k], pending, true, false, false));
            a.jcc(5, miss); // jne
            a.rm(true, 0x03, RCX, RBX, RDX, 0, table + 8); // add rcx, [rbx + rdx + table + 8]
        }

        /** The end of instruction k on the straight path: on to k + 1, or back to the dispatcher at its next rip. */
        private void fallThrough(int k) {
            if (!region.fallsInto(k)) {
                exit(starts[k] + insns.get(k).len);
            }
        }

        /** Leaves for the block offset {@code ripOffset}, the instructions so far counted, through the chain. */
        private void exit(int ripOffset) {
            flushCount(0);
            hostFlags(); // takes RAX
            a.lea(RAX, R10, X64.NO_INDEX, 0, ripOffset);
            a.jmp(chain);
        }

        private void insn(int k) {
            Insn in = insns.get(k);
            boolean w = in.size == 8;
            if (!NativeForms.supported(in)) {
                exit(starts[k]);
                return;
            }
            switch (in.kind) {
                case Insn.NOP -> pending++;
                case Insn.JMP, Insn.JCC -> branch(k, in);
                case Insn.MOV_LOAD, Insn.MOV_STORE -> {
                    boolean load = in.kind == Insn.MOV_LOAD;
                    int to = load ? in.reg : in.rm;
                    int from = load ? in.rm : in.reg;
                    if (in.rm >= 0) {
                        a.loadSized(in.size, RAX, R12, operand(in, from, in.size));
                        storeOperand(in, to, in.size);
                    } else if (load) {
                        address(k, false);
                        lookup(k, in.size, false);
                        a.loadSized(in.size, RAX, RCX, 0);
                        storeOperand(in, to, in.size);
                    } else {
                        address(k, false);
                        lookup(k, in.size, true);
                        a.loadSized(in.size, RAX, R12, operand(in, from, in.size));
                        a.storeSized(in.size, RCX, RAX);
                    }
                    pending++;
                }
                case Insn.MOV_IMM -> {
                    long v = in.size == 8 ? in.imm : in.imm & Flags.mask(in.size);
                    if (in.rm >= 0) {
                        a.movImm(RAX, v);
                        storeOperand(in, in.rm, in.size);
                    } else {
                        address(k, false);
                        lookup(k, in.size, true);
                        a.movImm(RAX, v);
                        a.storeSized(in.size, RCX, RAX);
                    }
                    pending++;
                }
                case Insn.CALL -> {
                    pushSlot(k);
                    pushReturnAddress(k);
                    pending++;
                    exit((int) branchTarget(k));
                    return;
                }
                case Insn.RET -> {
                    popSlot(k);
                    a.load(RDX, RCX, 0);
                    popped();
                    pending++;
                    exitTo(RDX);
                    return;
                }
                case Insn.JMP_IND, Insn.CALL_IND -> {
                    if (in.rm >= 0) {
                        getReg(RDX, in.rm);
                    } else {
                        address(k, false);
                        lookup(k, 8, false);
                        a.load(RDX, RCX, 0);
                    }
                    if (in.kind == Insn.CALL_IND) {
                        a.movRR(X64.R9, RDX); // the lookup takes RDX and R8
                        pushSlot(k);
                        a.movRR(RDX, X64.R9);
                        pushReturnAddress(k);
                    }
                    pending++;
                    exitTo(RDX);
                    return;
                }
                case Insn.SHIFT -> {
                    int count = (int) in.imm & (w ? 63 : 31);
                    hostFlags();
                    getReg(RAX, in.rm);
                    if (!in.hasImm) {
                        shiftByCl(in, w);
                    } else if (count != 0) {
                        a.rr(w, 0xc1, in.sub, RAX); // rol/ror/shl/shr/sar rax, imm8
                        a.u8(count);
                        wroteFlags();
                        if (in.sub >= 4) {
                            // The engine's rule for what x86 leaves undefined: AF 0, and OF 0 past a count of 1.
                            flagsToR11();
                            clearInR11(Flags.AF | (count == 1 ? 0 : Flags.OF));
                        } else if (count != 1) {
                            rotateOverflow(in.sub == 1, w);
                        }
                    } else if (!w) {
                        a.rr(false, 0x89, RAX, RAX); // mov eax, eax: a 4-byte operand is written, zero-extended
                    }
                    setReg(in.rm);
                    pending++;
                }
                case Insn.GROUP3 -> {
                    if (in.sub == 6) {
                        div(k, in, w);
                    } else if (in.sub == 4) {
                        mul(k, in, w);
                    } else {
                        getReg(RAX, in.rm);
                        a.rr(w, 0xf7, in.sub, RAX); // not (f7 /2), neg (f7 /3)
                        setReg(in.rm);
                        if (in.sub == 3) {
                            wroteFlags();
                        }
                    }
                    pending++;
                }
                case Insn.BSWAP -> {
                    getReg(RAX, in.rm);
                    if (w) {
                        a.u8(0x48);
                    }
                    a.u8(0x0f);
                    a.u8(0xc8); // bswap rax/eax
                    setReg(in.rm);
                    pending++;
                }
                case Insn.CONVERT -> {
                    if (in.sub == 0) { // cwde, cdqe
                        a.rm(w, w ? 0x63 : 0x0fbf, RAX, R12, reg(CpuState.RAX));
                        setReg(CpuState.RAX);
                    } else { // cdq, cqo
                        getReg(RAX, CpuState.RAX);
                        if (w) {
                            a.u8(0x48);
                        }
                        a.u8(0x99);
                        a.store(R12, reg(CpuState.RDX), RDX);
                    }
                    pending++;
                }
                case Insn.SETCC -> {
                    hostFlags();
                    a.rm(false, 0x0f90 | in.sub, 0, R12, X64.NO_INDEX, 0, operand(in, in.rm, 1)); // setcc byte [r12 + ..]
                    pending++;
                }
                case Insn.CMOVCC -> {
                    if (in.rm < 0) {
                        address(k, false);
                        lookup(k, in.size, false);
                    }
                    hostFlags();
                    getReg(RAX, in.reg);
                    if (in.rm >= 0) {
                        a.rm(w, 0x0f40 | in.sub, RAX, R12, reg(in.rm));
                    } else {
                        a.rm(w, 0x0f40 | in.sub, RAX, RCX, 0);
                    }
                    setReg(in.reg);
                    pending++;
                }
                case Insn.LEA -> {
                    address(k, true);
                    a.rr(w, 0x89, RCX, RAX); // mov rax/eax, rcx/ecx
                    setReg(in.reg);
                    pending++;
                }
                case Insn.ALU_RM_R, Insn.ALU_R_RM, Insn.ALU_RM_IMM, Insn.TEST_RM_R, Insn.TEST_RM_IMM -> alu(k, in, w);
                case Insn.MOVZX, Insn.MOVSX -> extend(k, in, w);
                case Insn.INC_DEC -> {
                    if (in.rm >= 0) {
                        hostFlags(); // keeps CF
                        getReg(RAX, in.rm);
                        a.rr(w, 0xff, in.sub, RAX); // inc (ff /0) or dec (ff /1)
                        setReg(in.rm);
                    } else {
                        address(k, false);
                        lookup(k, in.size, true);
                        hostFlags();
                        a.rm(w, 0xff, in.sub, RCX, 0); // inc/dec [rcx]
                    }
                    wroteFlags();
                    pending++;
                }
                case Insn.IMUL -> {
                    if (in.rm < 0) {
                        address(k, false);
                        lookup(k, in.size, false);
                    }
                    int base = in.rm >= 0 ? R12 : RCX;
                    int disp = in.rm >= 0 ? reg(in.rm) : 0;
                    if (in.hasImm) {
                        a.rm(w, 0x69, RAX, base, X64.NO_INDEX, 0, disp); // imul rax, src, imm32
                        a.u32((int) in.imm);
                    } else {
                        getReg(RAX, in.reg);
                        a.rm(w, 0x0faf, RAX, base, X64.NO_INDEX, 0, disp); // imul rax, src
                    }
                    // The engine's rule (QEMU's) for what the SDM leaves undefined: SF, ZF, PF of
                    // the result and AF 0; CF = OF = the product did not fit.
                    wroteFlags();
                    a.rr(false, 0x0f90, 0, RDX); // seto dl
                    a.rr(w, 0x85, RAX, RAX); // test rax, rax
                    flagsToR11();
                    clearInR11(Flags.AF);
                    a.rr(false, 0x0fb6, RDX, RDX); // movzx edx, dl
                    a.rr(true, 0x09, RDX, R11); // or r11, rdx: CF
                    a.rr(false, 0xc1, 4, RDX); // shl edx, 11
                    a.u8(11);
                    a.rr(true, 0x09, RDX, R11); // or r11, rdx: OF
                    setReg(in.reg);
                    pending++;
                }
                case Insn.PUSH -> {
                    pushSlot(k);
                    getReg(RAX, in.reg); // PUSH RSP pushes the value before the push
                    a.store(RCX, 0, RAX);
                    pushed();
                    pending++;
                }
                case Insn.POP -> {
                    popSlot(k);
                    popped();
                    a.load(RAX, RCX, 0);
                    setReg(in.reg); // POP RSP: the popped value, written after the increment
                    pending++;
                }
                default -> throw new IllegalStateException("not a native form: kind " + in.kind);
            }
            if (in.kind != Insn.JMP && in.kind != Insn.JCC) {
                fallThrough(k);
            }
        }

        /** MUL's and DIV's register or memory operand into RCX, the guest's flags in R11 first (both keep them). */
        private void operandToRcx(int k, Insn in, boolean w) {
            if (!flagsInR11) {
                flagsToR11();
            }
            if (in.rm < 0) {
                address(k, false);
                lookup(k, in.size, false);
                a.rm(w, 0x8b, RCX, RCX, 0); // mov rcx, [rcx]
            } else {
                a.rm(w, 0x8b, RCX, R12, reg(in.rm));
            }
        }

        /**
         * MUL of RAX (EAX) by a register or memory operand into RDX:RAX (EDX:EAX). CF and OF are
         * the host's (the high half not 0); SF, ZF, AF and PF, undefined in x86, stay the guest's
         * as the engine keeps them (Alu.mulAcc): the guest's flags go to R11 first, and only CF
         * and OF are taken from the host's after the MUL.
         */
        private void mul(int k, Insn in, boolean w) {
            operandToRcx(k, in, w);
            a.rm(w, 0x8b, RAX, R12, reg(CpuState.RAX));
            a.rr(w, 0xf7, 4, RCX); // mul rcx: a 4-byte one writes EAX and EDX zero-extended
            a.store(R12, reg(CpuState.RAX), RAX);
            a.store(R12, reg(CpuState.RDX), RDX);
            a.pushf();
            a.pop(R8);
            a.rr(true, 0x81, 4, R8); // and r8, CF | OF
            a.u32((int) (Flags.CF | Flags.OF));
            clearInR11(Flags.CF | Flags.OF);
            a.rr(true, 0x09, R8, R11); // or r11, r8
            wroteFlags();
            flagsInR11 = true;
        }

        /**
         * DIV of RDX:RAX (EDX:EAX) by a register or memory operand. Where it raises #DE (a divisor
         * of 0, a quotient wider than the operand: the high half not below the divisor) the block
         * returns before it, and the dispatcher's path raises it. The flags stay the guest's (x86
         * leaves them undefined, the engine keeps them): they go to R11 before the checks take
         * the host's, and the host's DIV leaves whatever it leaves in the host's.
         */
        private void div(int k, Insn in, boolean w) {
            operandToRcx(k, in, w);
            a.rm(w, 0x8b, RDX, R12, reg(CpuState.RDX));
            X64.Label fault = new X64.Label();
            stubs.add(new Stub(fault, starts[k], pending, true, false, false));
            a.rr(w, 0x85, RCX, RCX); // test rcx, rcx
            a.jcc(4, fault); // je: a divisor of 0
            a.rr(w, 0x39, RCX, RDX); // cmp rdx, rcx
            a.jcc(3, fault); // jae: the quotient would not fit
            a.rm(w, 0x8b, RAX, R12, reg(CpuState.RAX));
            a.rr(w, 0xf7, 6, RCX); // div rcx: a 4-byte one writes EAX and EDX zero-extended, as x86 does
            a.store(R12, reg(CpuState.RAX), RAX);
            a.store(R12, reg(CpuState.RDX), RDX);
        }

        /**
         * OF after a rotate (result in RAX) by more than 1, where x86 leaves it undefined: the
         * engine's rule (Alu.shift), the formula of a count of 1 on the result: ROL the top bit
         * XOR the bottom one (CF), ROR the top two bits XORed. CF and the other flags are the host's.
         */
        private void rotateOverflow(boolean right, boolean w) {
            flagsToR11();
            a.movRR(RCX, RAX);
            if (right) {
                a.rr(w, 0xc1, 5, RCX); // shr rcx, bits - 2: bit 0 the second bit from the top, bit 1 the top
                a.u8(w ? 62 : 30);
                a.rr(false, 0x89, RCX, RDX); // mov edx, ecx
                a.rr(false, 0xc1, 5, RDX); // shr edx, 1
                a.u8(1);
                a.rr(false, 0x31, RDX, RCX); // xor ecx, edx
            } else {
                a.rr(w, 0xc1, 5, RCX); // shr rcx, bits - 1: the top bit
                a.u8(w ? 63 : 31);
                a.rr(false, 0x31, RAX, RCX); // xor ecx, eax: with the bottom bit
            }
            a.rr(false, 0x81, 4, RCX); // and ecx, 1
            a.u32(1);
            a.rr(false, 0xc1, 4, RCX); // shl ecx, 11: OF's place
            a.u8(11);
            clearInR11(Flags.OF);
            a.rr(true, 0x09, RCX, R11); // or r11, rcx
        }

        /**
         * SHL, SHR, SAR of RAX by the guest's CL, its flags left in R11 by the engine's rule: a count
         * of 0 keeps them (as the host does), 1 clears AF, more clear AF and OF. The host's flags are
         * the guest's before it (the shift reads them: readsFlags), so they may be published as written.
         */
        private void shiftByCl(Insn in, boolean w) {
            a.rm(false, 0x0fb6, RCX, R12, reg(CpuState.RCX)); // movzx ecx, byte [guest rcx]
            a.rr(w, 0xd3, in.sub, RAX); // shl/shr/sar rax, cl: the host masks the count as x86 does
            wroteFlags();
            flagsToR11();
            a.rr(false, 0x81, 4, RCX); // and ecx, 63 or 31
            a.u32(w ? 63 : 31);
            a.rr(false, 0x81, 7, RCX); // cmp ecx, 1
            a.u32(1);
            X64.Label done = new X64.Label();
            X64.Label one = new X64.Label();
            a.jcc(2, done); // jb: a count of 0
            a.jcc(4, one); // je
            clearInR11(Flags.AF | Flags.OF);
            a.jmp(done);
            a.bind(one);
            clearInR11(Flags.AF);
            a.bind(done);
            if (!w) {
                a.rr(false, 0x89, RAX, RAX); // mov eax, eax: the 4-byte operand written, zero-extended
            }
        }

        /** The eight ALU operations and TEST, as the same host instruction on the guest's operands. */
        private void alu(int k, Insn in, boolean w) {
            boolean test = in.kind == Insn.TEST_RM_R || in.kind == Insn.TEST_RM_IMM;
            boolean imm = in.kind == Insn.ALU_RM_IMM || in.kind == Insn.TEST_RM_IMM;
            boolean toReg = in.kind == Insn.ALU_R_RM;
            boolean bytes = in.size == 1;
            int op = test ? -1 : in.sub;
            boolean keeps = test || op == 7; // CMP, TEST: no result
            boolean carryIn = op == 2 || op == 3;
            // op r, r/m: 0x03 | op << 3 (0x02 | op << 3 for bytes); TEST: 0x85 (0x84)
            int opcode = test ? (bytes ? 0x84 : 0x85) : op << 3 | (bytes ? 2 : 3);
            int dst = toReg ? in.reg : in.rm;
            if (in.rm >= 0) {
                if (carryIn) {
                    hostFlags();
                }
                a.loadSized(in.size, RAX, R12, operand(in, dst, in.size));
                if (imm) {
                    aluImm(in.size, op, in.imm);
                } else {
                    a.rm(w, opcode, RAX, R12, X64.NO_INDEX, 0, operand(in, toReg ? in.rm : in.reg, in.size));
                }
                if (!keeps) {
                    storeOperand(in, dst, in.size);
                }
            } else {
                address(k, false);
                boolean store = !toReg && !keeps;
                lookup(k, in.size, store);
                if (carryIn) {
                    hostFlags(); // RAX free: the host address is in RCX
                }
                if (toReg) {
                    a.loadSized(in.size, RAX, R12, operand(in, in.reg, in.size));
                    a.rm(w, opcode, RAX, RCX, 0); // op rax, [rcx]
                    if (!keeps) {
                        storeOperand(in, in.reg, in.size);
                    }
                } else {
                    a.loadSized(in.size, RAX, RCX, 0);
                    if (imm) {
                        aluImm(in.size, op, in.imm);
                    } else {
                        a.rm(w, opcode, RAX, R12, X64.NO_INDEX, 0, operand(in, in.reg, in.size));
                    }
                    if (store) {
                        a.storeSized(in.size, RCX, RAX);
                    }
                }
            }
            wroteFlags();
            pending++;
        }

        /** op (or TEST when op is -1) of RAX (AL, EAX) with an immediate: sign-extended 32 bits, or 8 for a byte. */
        private void aluImm(int size, int op, long imm) {
            boolean w = size == 8;
            if (size == 1) {
                a.rr(false, op < 0 ? 0xf6 : 0x80, op < 0 ? 0 : op, RAX); // test al, imm8 (f6 /0); op al, imm8 (80 /op)
                a.u8((int) imm);
                return;
            }
            a.rr(w, op < 0 ? 0xf7 : 0x81, op < 0 ? 0 : op, RAX); // test r, imm32 (f7 /0); op r, imm32 (81 /op)
            a.u32((int) imm);
        }

        private void extend(int k, Insn in, boolean w) {
            int opcode = in.kind == Insn.MOVZX ? (in.sub == 1 ? 0x0fb6 : 0x0fb7) : in.sub == 1 ? 0x0fbe : in.sub == 2 ? 0x0fbf : 0x63;
            if (in.rm >= 0) {
                a.rm(w, opcode, RAX, R12, operand(in, in.rm, in.sub));
            } else {
                address(k, false);
                lookup(k, in.sub, false);
                a.rm(w, opcode, RAX, RCX, 0);
            }
            setReg(in.reg);
            pending++;
        }

        /** JMP and JCC: to an instruction of the block (a back edge spends one of the run's budget) or back to the dispatcher. */
        private void branch(int k, Insn in) {
            int targetOff = (int) branchTarget(k);
            int j = indexAt(targetOff);
            boolean cond = in.kind == Insn.JCC;
            if (cond || j >= 0) {
                hostFlags(); // a JCC reads them; a branch target expects them there
            }
            flushCount(1);
            X64.Label to;
            if (j < 0) {
                to = new X64.Label();
                stubs.add(new Stub(to, targetOff, 0, flagsInR11, false, true));
            } else if (j <= k) {
                // A back edge: taken only while the budget lasts (JRCXZ and LEA leave the flags alone).
                to = new X64.Label();
                X64.Label spent = new X64.Label();
                stubs.add(new Stub(spent, targetOff, 0, false, true, false));
                backEdges.add(new BackEdge(to, spent, labels[j]));
            } else {
                to = labels[j];
            }
            if (cond) {
                a.jcc(in.sub, to);
                fallThrough(k);
            } else {
                a.jmp(to);
            }
        }

        private record BackEdge(X64.Label check, X64.Label spent, X64.Label loop) {
        }

        private final List<BackEdge> backEdges = new ArrayList<>();
    }
}
