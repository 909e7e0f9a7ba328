package io.cloister.cpu.x86;

import java.lang.foreign.MemorySegment;

/**
 * A block compiled to host code ({@link NativeBlockCompiler}). A run passes the guest registers,
 * the fast tables, a context of longs (CTX_*) and the jump table to the code, which runs the
 * region's instructions, going round its loop and on into the next native blocks while its budget
 * of back edges and hops lasts, and returns the next rip; it never
 * faults: where an access misses the fast tables it returns before that instruction, which the
 * decoded path then runs. {@code pos} is the count of instructions it completed.
 */
final class NativeBlock extends Block {
    /** The guest's arithmetic flags, in (when the block reads them first) and out. */
    static final int CTX_FLAGS = 0;
    /** fastTables(): where the current privilege's tables start in the fast array, in longs. */
    static final int CTX_TABLES = 1;
    static final int CTX_FS = 2;
    static final int CTX_GS = 3;
    /** Out: instructions completed. */
    static final int CTX_COUNT = 4;
    /** In: back edges the run may take. */
    static final int CTX_BUDGET = 5;
    /** Out: not 0 when CTX_FLAGS holds the guest's flags (the block wrote them, or took them in). */
    static final int CTX_WROTE = 6;
    /** In: the block's linear address. */
    static final int CTX_RIP = 7;
    /** In: what jump-table tags add to a rip (Memory.jumpTag: jumpGen and the privilege). */
    static final int CTX_GEN = 8;
    static final int CTX_SIZE = 9;

    /**
     * Entries of a vCPU's jump table (X86Vcpu.jumps): by the low 16 bits of a rip, its tag (rip +
     * Memory.jumpTag: jumpGen << 49, CPL 3 << 48) and the address where a chain enters its native
     * block. A block registers itself at a run from the dispatcher; a native block leaving for a
     * rip goes straight into the entry's block when the tag matches (jumpGen changes at every event
     * after which a rip may lead elsewhere: a TLB flush, dropped code; a CR3 write empties only the
     * entries of code not mapped global, Memory.noteJump). Tags are unique for canonical rips (bit
     * 47 tells the two halves apart) within 32,768 jumpGens; the table is emptied when jumpGen's
     * upper bits move.
     */
    static final int JUMPS = 1 << 16;

    private final MemorySegment code;
    /** The address at which a chain from another block enters this one (NativeBlockCompiler's chainEntry). */
    private final long chained;
    private final boolean flagsIn;

    NativeBlock(MemorySegment code, int chainEntry, boolean flagsIn) {
        this.code = code;
        this.chained = code.address() + chainEntry;
        this.flagsIn = flagsIn;
    }

    @Override
    long run(X86Vcpu c, long[] r, long rip) {
        long[] ctx = c.nativeCtx;
        if (flagsIn || c.flagsExact()) {
            // Taken in (the prologue loads them): a block that needs them, or any block when they
            // cost nothing to give, so that its run chains on even if it writes none.
            c.materialize();
            ctx[CTX_FLAGS] = c.rflags & Flags.ARITH | Flags.FIXED;
            ctx[CTX_WROTE] = 1;
        } else {
            ctx[CTX_WROTE] = 0;
        }
        ctx[CTX_TABLES] = c.fastTables();
        ctx[CTX_FS] = c.fsBase;
        ctx[CTX_GS] = c.gsBase;
        ctx[CTX_RIP] = rip;
        ctx[CTX_BUDGET] = c.nativeBudget();
        long[] jumps = c.jumps(); // first: it may empty the table for a new epoch of jumpGen
        long gen = c.jumpTag();
        ctx[CTX_GEN] = gen;
        int at = 2 * (int) (rip & (JUMPS - 1));
        if (jumps[at] != rip + gen || jumps[at + 1] != chained) {
            jumps[at] = rip + gen;
            jumps[at + 1] = chained;
            c.noteJump(at, rip);
        }
        long next;
        try {
            next = (long) NativeCode.CALL.invokeExact(code, MemorySegment.ofArray(r), MemorySegment.ofArray(c.fastArray()),
                    MemorySegment.ofArray(ctx), MemorySegment.ofArray(jumps));
        } catch (Throwable t) {
            throw new IllegalStateException("native block call failed", t);
        }
        if (ctx[CTX_WROTE] != 0) {
            c.exactFlags(ctx[CTX_FLAGS]);
        }
        c.pos = (int) ctx[CTX_COUNT];
        return next;
    }
}
