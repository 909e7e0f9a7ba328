package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.X64.R10;
import static io.cloister.cpu.x86.X64.R12;
import static io.cloister.cpu.x86.X64.R13;
import static io.cloister.cpu.x86.X64.R14;
import static io.cloister.cpu.x86.X64.R15;
import static io.cloister.cpu.x86.X64.R8;
import static io.cloister.cpu.x86.X64.R9;
import static io.cloister.cpu.x86.X64.RAX;
import static io.cloister.cpu.x86.X64.RBP;
import static io.cloister.cpu.x86.X64.RBX;
import static io.cloister.cpu.x86.X64.RCX;
import static io.cloister.cpu.x86.X64.RDX;

/**
 * A native run's frame: how it is entered from Java (NativeCode.CALL: regs, fast, ctx, jumps in
 * RDI, RSI, RDX, RCX), how it returns, and how one native block goes on into the next. Host
 * registers for the run's length: R12 the guest registers, RBX the fast tables of the current
 * privilege, R13 the vCPU's jump table (NativeBlock.JUMPS), R14 the context (NativeBlock.CTX_*),
 * R15 the instructions completed, RBP the back edges and chain hops left, R10 the running block's
 * linear address. Every block saves the same registers, so one return serves all.
 */
final class NativeFrame {
    private NativeFrame() {
    }

    /**
     * Saves the callee-saved registers and sets up the run's; returns where a chain from another
     * block enters (the count not reset, the flags not loaded: both are the run's already).
     */
    static int prologue(X64 a, boolean flagsIn) {
        a.push(RBX);
        a.push(RBP);
        a.push(R12);
        a.push(R13);
        a.push(R14);
        a.push(R15);
        a.movRR(R12, X64.RDI);
        a.movRR(R14, RDX);
        a.load(RAX, R14, 8 * NativeBlock.CTX_TABLES);
        a.lea(RBX, X64.RSI, RAX, 3, 0);
        a.movRR(R13, RCX);
        a.load(RBP, R14, 8 * NativeBlock.CTX_BUDGET);
        a.load(R10, R14, 8 * NativeBlock.CTX_RIP);
        a.movImm(R15, 0);
        if (flagsIn) {
            a.pushMem(R14, 8 * NativeBlock.CTX_FLAGS);
            a.popf();
        } else {
            // Flags the dispatcher had exact come in as well (CTX_WROTE set, NativeBlock.run): the
            // run may then chain on before writing any (the chain needs them in the host's).
            X64.Label none = new X64.Label();
            a.load(RCX, R14, 8 * NativeBlock.CTX_WROTE);
            a.jrcxz(none);
            a.pushMem(R14, 8 * NativeBlock.CTX_FLAGS);
            a.popf();
            a.bind(none);
        }
        return a.size();
    }

    /**
     * The return of a run, RAX the next rip: the host's flags to CTX_FLAGS (skipped from
     * {@code flagsStored}, bound after that step, when the flags are there already), the count to
     * CTX_COUNT, and the registers the prologue saved. NativeCode's shared exit is this alone.
     */
    static void epilogue(X64 a, X64.Label flagsStored) {
        a.pushf();
        a.popMem(R14, 8 * NativeBlock.CTX_FLAGS);
        if (flagsStored != null) {
            a.bind(flagsStored);
        }
        a.store(R14, 8 * NativeBlock.CTX_COUNT, R15);
        a.pop(R15);
        a.pop(R14);
        a.pop(R13);
        a.pop(R12);
        a.pop(RBP);
        a.pop(RBX);
        a.ret();
    }

    /**
     * At {@code chain}: leaves for the rip in RAX (the count up to date, the guest flags in the
     * host's) into the native block the vCPU's jump table has for that rip and tag, when
     * the budget lasts and the flags are the guest's (CTX_WROTE), else to {@code exit} (the
     * return with the host's flags). JRCXZ, LEA, MOV, MOVZX and NOT touch no flags. An entry that
     * does not match leads to NativeCode's exit, which returns as {@code exit} does.
     */
    static void chain(X64 a, X64.Label chain, X64.Label exit) {
        a.bind(chain);
        a.movRR(RCX, RBP);
        a.jrcxz(exit); // the budget spent
        a.load(RCX, R14, 8 * NativeBlock.CTX_WROTE);
        a.jrcxz(exit); // the host's flags are not the guest's
        a.lea(RBP, RBP, X64.NO_INDEX, 0, -1);
        a.rr(false, 0x0fb7, RCX, RAX); // movzx ecx, ax: the entry's index
        a.lea(RCX, X64.NO_BASE, RCX, 3, 0); // times 8 (the addressing below doubles it: 16 bytes an entry)
        a.rm(true, 0x8b, R9, R13, RCX, 1, 8); // mov r9, [r13 + rcx * 2 + 8]: where to
        a.rm(true, 0x8b, RDX, R13, RCX, 1, 0); // mov rdx, [r13 + rcx * 2]: the tag
        a.load(R8, R14, 8 * NativeBlock.CTX_GEN);
        a.lea(R8, RAX, R8, 0, 0); // the tag wanted: rip + Memory.jumpTag()
        a.rr(true, 0xf7, 2, R8); // not r8
        a.lea(RCX, RDX, R8, 0, 1); // the tag less the one wanted
        a.jrcxzShort(5); // a match: over the JMP to exit
        a.jmp(exit);
        a.movRR(R10, RAX);
        a.rr(false, 0xff, 4, R9); // jmp r9
    }
}
