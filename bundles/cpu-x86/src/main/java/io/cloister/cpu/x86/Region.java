package io.cloister.cpu.x86;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A block's instructions in address order, and where each starts as bytes from the first
 * ({@code starts[k]}); {@code starts[n]} is the end of the last, the bytes the block spans. The
 * first is the block's entry and its lowest address, so the span covers every instruction.
 */
record Region(List<Insn> insns, int[] starts) {
    int span() {
        return starts[insns.size()];
    }

    /**
     * Whether control goes on from instruction k to instruction k + 1 by falling through: no gap
     * between them, and k no JMP, call, return or indirect jump (after which the region may go on
     * with an instruction that a branch reaches).
     */
    boolean fallsInto(int k) {
        Insn in = k + 1 < insns.size() ? insns.get(k) : null;
        return in != null && !BlockCompiler.ends(in) && starts[k] + in.len == starts[k + 1];
    }

    /** The most bytes a region spans: as many instructions as a block holds, each of the longest (CodePages looks this far back). */
    static final int MAX_SPAN = BlockCompiler.MAX * 15;

    /**
     * The region a block at physical {@code pa} (RAM) holds: empty when the first instruction cannot
     * be compiled. From the first instruction, fall-through, both ways of a JCC and a JMP's target
     * are followed, breadth first, to instructions of the same page at or after the first that
     * overlap none taken already, within {@link #MAX_SPAN} bytes of the first and {@code max}
     * instructions in all, and up to {@link #CLOSE} more where they close a loop back to one of
     * the region's instructions (closeLoop). What the region holds is a function of the page's bytes alone.
     */
    static Region decode(MemorySegment ram, long pa, boolean code64, int max) {
        int first = (int) (pa & 0xfff);
        long page = pa & ~0xfffL;
        int limit = (int) Math.min(4096, Math.min(first + MAX_SPAN, page + 4096 > ram.byteSize() ? ram.byteSize() - page : 4096));
        // Indexed from the first instruction: a region spans at most MAX_SPAN bytes, so these stay
        // small (arrays of the whole page, zeroed for each of the thousands of regions a boot
        // compiles, were most of the decoding's cost).
        Insn[] at = new Insn[limit - first];
        boolean[] taken = new boolean[limit - first];
        int[] queue = new int[2 * max + 2];
        int head = 0;
        int tail = 0;
        queue[tail++] = first;
        int n = 0;
        while (head < tail && n < max) {
            int off = queue[head++];
            Insn in = admit(ram, page, first, limit, off, code64, taken);
            if (in == null) {
                continue; // the way there leaves the block
            }
            int end = off + in.len;
            java.util.Arrays.fill(taken, off - first, end - first, true);
            at[off - first] = in;
            n++;
            if (in.kind == Insn.JCC || in.kind == Insn.JMP) {
                long target = end + in.imm;
                if (in.kind == Insn.JCC) {
                    queue[tail++] = end;
                }
                if (target >= first && target < limit) {
                    queue[tail++] = (int) target;
                }
            } else if (!BlockCompiler.ends(in)) {
                queue[tail++] = end;
            }
        }
        if (n == max) {
            // Cut at max: a way still open that comes back to an instruction of the region in a
            // few more instructions straight on is taken too, so that a loop body just longer than
            // max (busybox's sha256 round: 52 instructions) runs as a loop inside one block instead
            // of two blocks and two dispatches a round, and a function's first block holds its
            // whole loop (lib/mpi's addmul_1: a prologue of 16 and a loop of 37).
            int room = CLOSE;
            for (int q = head; q < tail && room > 0; q++) {
                int added = closeLoop(ram, page, first, limit, queue[q], code64, at, taken, room);
                n += added;
                room -= added;
            }
        }
        List<Insn> insns = new ArrayList<>(n);
        int[] starts = new int[n + 1];
        for (int off = first; off < limit; off++) {
            Insn in = at[off - first];
            if (in != null) {
                starts[insns.size()] = off - first;
                starts[insns.size() + 1] = off - first + in.len;
                insns.add(in);
            }
        }
        return new Region(insns, starts);
    }

    /** The most instructions a region takes beyond its max to close a loop (decode). */
    static final int CLOSE = 16;

    /**
     * From {@code off}, the instructions straight on (none taken yet, each one a block may hold,
     * within {@code limit}) up to and including a JMP or JCC back to an instruction the region
     * holds already (its first or one the way there reached), at most
     * {@code room} of them: added to {@code at} and {@code taken} and counted if that branch is
     * reached, else nothing is added and 0 returned.
     */
    private static int closeLoop(MemorySegment ram, long page, int first, int limit, int off, boolean code64, Insn[] at,
            boolean[] taken, int room) {
        int[] offs = new int[room];
        Insn[] found = new Insn[room];
        for (int k = 0; k < room; k++) {
            Insn in = admit(ram, page, first, limit, off, code64, taken);
            if (in == null) {
                return 0;
            }
            int end = off + in.len;
            offs[k] = off;
            found[k] = in;
            long target = end + in.imm;
            if ((in.kind == Insn.JCC || in.kind == Insn.JMP) && target >= first && target < off && at[(int) target - first] != null) {
                for (int j = 0; j <= k; j++) {
                    java.util.Arrays.fill(taken, offs[j] - first, offs[j] - first + found[j].len, true);
                    at[offs[j] - first] = found[j];
                }
                return k + 1;
            }
            if (BlockCompiler.ends(in)) {
                return 0;
            }
            off = end;
        }
        return 0;
    }

    /**
     * The instruction at {@code off} if the region may take it, else null: outside [first, limit)
     * or taken already, its bytes running past the page (a private copy of it: left to the decoded
     * path), the interpreter's alone (no blockOp), ending beyond the limit, or overlapping one taken.
     */
    private static Insn admit(MemorySegment ram, long page, int first, int limit, int off, boolean code64, boolean[] taken) {
        if (off < first || off >= limit || taken[off - first]) {
            return null;
        }
        Insn in;
        try {
            in = Insn.decode(ram, page | off, code64);
        } catch (IndexOutOfBoundsException beyondTheCopy) {
            return null;
        }
        int end = off + in.len;
        return !BlockCompiler.inBlock(in) || end > limit || overlaps(taken, off - first, end - first) ? null : in;
    }

    private static boolean overlaps(boolean[] taken, int from, int to) {
        for (int o = from; o < to; o++) {
            if (taken[o]) {
                return true;
            }
        }
        return false;
    }

    /** The instructions straight on from physical {@code pa} until a block's end: empty when the first cannot be compiled. */
    static List<Insn> straight(MemorySegment ram, long pa, boolean code64, int max) {
        List<Insn> insns = new ArrayList<>();
        int off = (int) (pa & 0xfff);
        while (insns.size() < max && off < 4096) {
            Insn in = Insn.decode(ram, (pa & ~0xfffL) | off, code64);
            if (!BlockCompiler.inBlock(in)) {
                break; // the interpreter's alone (no blockOp): the block ends before it
            }
            insns.add(in);
            off += in.len;
            if (BlockCompiler.ends(in)) {
                break;
            }
        }
        return insns;
    }

    /** Each instruction's byte offset from the block's start, and at the end the bytes they cover, for instructions straight on. */
    static int[] offsets(List<Insn> insns) {
        int[] offsets = new int[insns.size() + 1];
        for (int i = 0; i < insns.size(); i++) {
            offsets[i + 1] = offsets[i] + insns.get(i).len;
        }
        return offsets;
    }
}
