package io.cloister.cpu.x86;

import java.util.List;

/**
 * Which instructions of a block write arithmetic flags that nothing can see: later instructions
 * of the block overwrite the ones it writes (all six; a rotate's, CF and OF) before any instruction
 * reads them, and nothing between can fault or
 * leave the block (a fault, an exit or the block's end makes the flags as they stand visible:
 * to the guest's handler, the VMM, the next block); nor does the instruction itself write memory
 * (a write into code or MMIO ends the block after it). Such an instruction's result is computed alone,
 * without its lazy flags (QEMU's TCG does the same liveness over a translation block).
 */
final class FlagLiveness {
    private FlagLiveness() {
    }

    /** What an instruction does with the flags, as far as an earlier instruction's are concerned. */
    private enum Use {
        /** Neither reads nor writes them. */
        NONE,
        /** Reads some, or keeps some of them (so the earlier ones stay visible). */
        READS,
        /** Writes all six, reading none. */
        WRITES_ALL,
        /** Writes CF and OF, reading none, and keeps the other four (ROL and ROR by a count not 0). */
        WRITES_CF_OF
    }

    /** For instructions straight on, one after the other. */
    static boolean[] dead(List<Insn> insns) {
        return dead(new Region(insns, Region.offsets(insns)));
    }

    static boolean[] dead(Region region) {
        List<Insn> insns = region.insns();
        int n = insns.size();
        boolean[] dead = new boolean[n];
        // Backwards: whether the flags standing after instruction k are overwritten unseen, CF and
        // OF apart from SF, ZF, AF and PF. A rotate (ROL, ROR by an immediate not 0) writes CF and
        // OF and keeps the other four: its own flags are unseen when CF and OF are, so of two
        // rotates one after the other (SHA-256's rounds) the first one's result is computed alone.
        boolean cfOfOverwritten = false; // at the block's end they are seen
        boolean othersOverwritten = false;
        for (int k = n - 1; k >= 0; k--) {
            Insn in = insns.get(k);
            if (!region.fallsInto(k)) {
                cfOfOverwritten = false; // the block returns after it, or jumps: taken as seen
                othersOverwritten = false;
            }
            Use u = use(in);
            // A rotate computed alone leaves the lazy flags of the writer before it in place, which
            // hold the four it keeps.
            dead[k] = cfOfOverwritten && (othersOverwritten || u == Use.WRITES_CF_OF) && !writesMemory(in);
            if (BlockCompiler.mayFaultOrExit(in) || u == Use.READS) {
                // a fault before it writes, or its read, sees what stood before it
                cfOfOverwritten = false;
                othersOverwritten = false;
            } else if (u == Use.WRITES_ALL) {
                cfOfOverwritten = true;
                othersOverwritten = true;
            } else if (u == Use.WRITES_CF_OF) {
                // The four it keeps are taken as seen: the writer before a rotate keeps its lazy
                // flags. Taking them as overwritten where a later instruction writes all six (that
                // writer then dead too) made the Linux boot 6-8 % slower in three runs of six
                // rounds (benchmarks/results/2026-12-03-session21-speed.md), for a reason not found.
                cfOfOverwritten = true;
                othersOverwritten = false;
            } // NONE: what holds after it holds before it
        }
        return dead;
    }

    /**
     * A flag-writing form that writes memory: a write into code or MMIO ends the block right after
     * it (BlockCompiler's stopCheck), and then its flags are seen.
     */
    private static boolean writesMemory(Insn in) {
        return in.rm < 0 && switch (in.kind) {
            case Insn.ALU_RM_R, Insn.ALU_RM_IMM, Insn.SHIFT, Insn.INC_DEC, Insn.GROUP3 -> true;
            default -> false;
        };
    }

    private static Use use(Insn in) {
        return switch (in.kind) {
            case Insn.ALU_RM_R, Insn.ALU_R_RM, Insn.ALU_RM_IMM -> in.sub == 2 || in.sub == 3 ? Use.READS : Use.WRITES_ALL; // adc, sbb read CF
            case Insn.TEST_RM_R, Insn.TEST_RM_IMM, Insn.IMUL -> Use.WRITES_ALL; // IMUL: see Alu.imulFast
            case Insn.SHIFT -> {
                int count = (int) in.imm & (in.size == 8 ? 63 : 31);
                if (!in.hasImm || in.sub == 2 || in.sub == 3) {
                    yield Use.READS; // a count in CL may be 0 (flags kept); RCL and RCR read CF
                }
                if (count == 0) {
                    yield Use.NONE;
                }
                yield in.sub < 2 ? Use.WRITES_CF_OF : Use.WRITES_ALL; // ROL, ROR keep SF, ZF, AF, PF
            }
            case Insn.GROUP3 -> switch (in.sub) {
                case 2 -> Use.NONE; // not
                case 3 -> Use.WRITES_ALL; // neg
                default -> Use.READS; // mul, imul, div, idiv keep or leave undefined flags as they were
            };
            case Insn.MOV_STORE, Insn.MOV_LOAD, Insn.MOV_IMM, Insn.LEA, Insn.MOVZX, Insn.MOVSX, Insn.PUSH, Insn.POP, Insn.NOP,
                    Insn.CONVERT, Insn.JMP, Insn.CALL, Insn.RET, Insn.JMP_IND, Insn.CALL_IND, Insn.BSWAP -> Use.NONE;
            default -> Use.READS; // jcc, setcc, cmovcc; inc/dec keep CF; bsf/bsr/lzcnt keep some
        };
    }
}
