package io.cloister.cpu.x86;

/**
 * Forms left to the interpreter (GENERIC entries without an op of their own) that a compiled block
 * may run in its middle through the interpreter ({@link Ops.Slow}, DecodedPath.blockOp): forms
 * that act on registers, flags and memory only, and either complete and go on to the next
 * instruction or, for a REP string form, stop at themselves for an exit (the block then ends
 * there). None of them changes what a block holds for its whole run: the privilege and mode,
 * segments, paging and the TLB, the interrupt flag, control and model-specific registers. They are
 * what ended blocks most in a Linux boot and its user space after the SSE2 forms with ops: LOCK
 * CMPXCHG and XCHG (spinlocks, glibc's malloc), BT with an immediate, REP MOVSB and STOSB, and the
 * 8- and 16-bit ALU forms.
 */
final class SlowForms {
    private SlowForms() {
    }

    /** Whether a block may run this decoded GENERIC form through the interpreter. */
    static boolean inBlock(Decoder d) {
        if (d == null || d.undefined) {
            return false; // crosses its page (the shape is the interpreter's fetch to make), or #UD
        }
        int op = d.op;
        return switch (d.map) {
            case Decoder.MAP_ONE -> oneByte(op, d.reg & 7);
            case Decoder.MAP_0F -> twoByte(op, d.reg & 7, d.modIsReg);
            default -> false;
        };
    }

    private static boolean oneByte(int op, int reg) {
        if (op <= 0x3f) {
            return (op & 7) <= 5; // ADD..CMP with a register, memory or immediate operand (not PUSH/POP of a segment, BCD)
        }
        return switch (op) {
            case 0x69, 0x6b, // IMUL with an immediate
                    0x80, 0x81, 0x83, 0x84, 0x85, 0x86, 0x87, // group 1, TEST, XCHG
                    0x88, 0x89, 0x8a, 0x8b, 0x8d, // MOV, LEA
                    0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, // XCHG with the accumulator
                    0x98, 0x99, 0x9e, 0x9f, // CBW/CWDE/CDQE, CWD/CDQ/CQO, SAHF, LAHF
                    0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, // MOVS, CMPS, STOS, LODS, SCAS (and REP)
                    0xa8, 0xa9, // TEST with the accumulator
                    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, // MOV r8, imm
                    0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, // MOV r, imm
                    0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3, // shifts and rotates
                    0xc6, 0xc7, // MOV r/m, imm
                    0xf6, 0xf7 -> true; // TEST, NOT, NEG, MUL, IMUL, DIV, IDIV (#DE is a fault as any other)
            case 0xfe, 0xff -> reg <= 1; // INC, DEC (not the calls, jumps and PUSH of group 5)
            default -> false;
        };
    }

    private static boolean twoByte(int op, int reg, boolean modIsReg) {
        return switch (op) {
            case 0xa3, 0xab, 0xb3, 0xbb, // BT, BTS, BTR, BTC with a register
                    0xa4, 0xa5, 0xac, 0xad, // SHLD, SHRD
                    0xaf, // IMUL
                    0xb0, 0xb1, 0xc0, 0xc1, // CMPXCHG, XADD
                    0xb6, 0xb7, 0xbe, 0xbf, // MOVZX, MOVSX
                    0xbc, 0xbd, 0xb8 -> true; // BSF/TZCNT, BSR/LZCNT, POPCNT
            case 0xba -> reg >= 4; // BT, BTS, BTR, BTC with an immediate
            case 0xc7 -> reg == 1 && !modIsReg; // CMPXCHG8B/16B (RDRAND and RDSEED left to traces: rare)
            default -> op >= 0x40 && op <= 0x4f || op >= 0x90 && op <= 0x9f || op >= 0xc8 && op <= 0xcf; // CMOVcc, SETcc, BSWAP
        };
    }
}
