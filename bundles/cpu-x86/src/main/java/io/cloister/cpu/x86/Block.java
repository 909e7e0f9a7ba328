package io.cloister.cpu.x86;

/**
 * A basic block of decoded instructions compiled to JVM bytecode (see {@link BlockCompiler}): the
 * JIT then compiles it with every decoded field a constant. {@link #run} executes the block from
 * linear {@code rip} and returns the next rip; it stores in {@code X86Vcpu.pos} how many
 * instructions completed. A fault or exit inside leaves {@code pos} at the instruction that did not
 * complete, so the vCPU restarts exactly there.
 */
abstract class Block {
    /** Byte offset of each instruction from the block's start. */
    int[] offsets;

    Block() {
    }

    /** The bytes the block covers, from its first instruction. */
    int length() {
        return offsets[offsets.length - 1];
    }

    abstract long run(X86Vcpu c, long[] r, long rip);
}
