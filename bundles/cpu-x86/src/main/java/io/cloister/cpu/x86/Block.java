package io.cloister.cpu.x86;

/**
 * A region of decoded instructions ({@link Region}) compiled to JVM bytecode (see
 * {@link BlockCompiler}): the JIT then compiles it with every decoded field a constant. {@link #run}
 * executes the block from linear {@code rip} and returns the next rip; it stores in
 * {@code X86Vcpu.pos} how many instructions completed, counted as an index into the region (the
 * instructions a branch inside passes over are taken off the vCPU's count as it goes). A fault or
 * exit inside leaves {@code pos} at the index of the instruction that did not complete, so the vCPU
 * restarts exactly there.
 */
abstract class Block {
    /** Byte offset of each instruction from the block's start (Region.starts: gaps between them are not the block's code). */
    int[] offsets;

    /**
     * Per instruction, the op that runs it where it is a form left to the interpreter that a block
     * runs through its op ({@link BlockCompiler#blockOp}); else null. Its own op, not the decoded
     * path's: nothing links it to another (Ops.Op.follow), so it runs its instruction alone.
     */
    Ops.Op[] ops;

    Block() {
    }

    /** The bytes the block covers, from its first instruction. */
    int length() {
        return offsets[offsets.length - 1];
    }

    abstract long run(X86Vcpu c, long[] r, long rip);
}
