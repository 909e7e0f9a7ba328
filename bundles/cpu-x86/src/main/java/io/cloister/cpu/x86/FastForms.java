package io.cloister.cpu.x86;

/**
 * The decoded path's commonest forms with their operand size and operand shape fixed, each of
 * which has an {@link Ops} shape of its own: small methods whose helpers the JIT inlines, where the
 * general switch ({@code execDecoded}) passes them as variables through calls the JIT does not
 * inline (it is too big). Counted on the Linux boot, the
 * register, load, store, stack and branch forms were about three quarters of the instructions the
 * decoded path runs; with the immediate, byte, extension and memory-operand forms after them, about
 * nine in ten; RegisterOps' forms take a third of the rest.
 */
final class FastForms {
    static final int NONE = 0;
    static final int JCC = 1;
    static final int JMP = 2;
    static final int NOP = 3;
    /** rm (a register) &lt;- reg. */
    static final int MOV_RR8 = 4;
    static final int MOV_RR4 = 5;
    /** reg &lt;- rm (a register). */
    static final int MOV_RR8_REV = 6;
    static final int MOV_RR4_REV = 7;
    /** reg &lt;- memory. */
    static final int LOAD8 = 8;
    static final int LOAD4 = 9;
    /** memory &lt;- reg. */
    static final int STORE8 = 10;
    static final int STORE4 = 11;
    /** rm (a register) op= reg: add, or, and, sub, xor, cmp. */
    static final int ALU_RR8 = 12;
    static final int ALU_RR4 = 13;
    /** rm (a register) op= imm. */
    static final int ALU_RI8 = 14;
    static final int ALU_RI4 = 15;
    static final int TEST_RR8 = 16;
    static final int TEST_RR4 = 17;
    /** 64-bit mode, 8 bytes. */
    static final int PUSH8 = 18;
    static final int POP8 = 19;
    static final int CALL8 = 20;
    static final int RET8 = 21;
    static final int LEA8 = 22;
    /** reg &lt;- imm. */
    static final int MOV_RI8 = 23;
    static final int MOV_RI4 = 24;
    /** memory &lt;- imm. */
    static final int MOV_MI8 = 25;
    static final int MOV_MI4 = 26;
    static final int MOV_MI1 = 27;
    /** memory &lt;- a byte register. */
    static final int STORE1 = 28;
    /** reg (4 or 8 bytes) &lt;- zero-extended byte or word: from memory, or a register. */
    static final int MOVZX_M1 = 29;
    static final int MOVZX_M2 = 30;
    static final int MOVZX_R1 = 31;
    static final int MOVZX_R2 = 32;
    /** reg (8 bytes) &lt;- sign-extended doubleword (MOVSXD): from a register, or memory. */
    static final int MOVSXD_R = 33;
    static final int MOVSXD_M = 34;
    static final int LEA4 = 35;
    /** TEST of byte registers; of a register, or a byte of memory, and an immediate. */
    static final int TEST_RR1 = 36;
    static final int TEST_RI1 = 37;
    static final int TEST_MI1 = 38;
    static final int TEST_RI4 = 39;
    static final int TEST_RI8 = 40;
    /** CMP of memory, or a byte register, and an immediate. */
    static final int CMP_MI8 = 41;
    static final int CMP_MI4 = 42;
    static final int CMP_MI1 = 43;
    static final int CMP_RI1 = 44;
    /** reg op= memory. */
    static final int ALU_RM8 = 45;
    static final int ALU_RM4 = 46;
    /** memory op= reg. */
    static final int ALU_MR8 = 47;
    static final int ALU_MR4 = 48;
    /** A register shifted or rotated by an immediate count. */
    static final int SHIFT_RI8 = 49;
    static final int SHIFT_RI4 = 50;
    /** RegisterOps' forms, on registers of 8 or 4 bytes (SETcc: a byte register), INC/DEC on memory too. */
    static final int IMUL_R = 51;
    static final int INC_DEC_R = 52;
    static final int INC_DEC_M = 53;
    static final int NOT_NEG_R = 54;
    static final int SETCC_R = 55;
    static final int CMOV_RR = 56;
    static final int SHIFT_RC = 57;
    /** memory &lt;- a word register. */
    static final int STORE2 = 58;
    /** TEST of memory (8 or 4 bytes) and an immediate. */
    static final int TEST_MI8 = 59;
    static final int TEST_MI4 = 60;
    /** memory op= imm, of 1, 2, 4 or 8 bytes: the plain operations that write back, and CMP of words. */
    static final int ALU_MI = 61;
    /** A byte register &lt;- a byte of memory; a byte register op= memory; memory op= a byte register. */
    static final int LOAD1 = 62;
    static final int ALU_RM1 = 63;
    static final int ALU_MR1 = 64;
    /** 64-bit mode: CALL and JMP through a quadword of memory. */
    static final int CALL_M8 = 65;
    static final int JMP_M8 = 66;

    private FastForms() {
    }

    static int of(Insn in) {
        int size = in.size;
        boolean wide = size == 8 || size == 4;
        boolean q = size == 8;
        boolean reg = in.rm >= 0;
        boolean plainAlu = in.sub != 2 && in.sub != 3; // adc and sbb read CF: the general path
        boolean stack64 = in.code64 && q;
        return switch (in.kind) {
            case Insn.JCC -> JCC;
            case Insn.JMP -> JMP;
            case Insn.NOP -> NOP;
            case Insn.MOV_STORE -> size == 1 ? (reg ? NONE : STORE1) : size == 2 ? (reg ? NONE : STORE2)
                    : !wide ? NONE : reg ? (q ? MOV_RR8 : MOV_RR4) : q ? STORE8 : STORE4;
            case Insn.MOV_LOAD -> size == 1 ? (reg ? NONE : LOAD1)
                    : !wide ? NONE : reg ? (q ? MOV_RR8_REV : MOV_RR4_REV) : q ? LOAD8 : LOAD4;
            case Insn.MOV_IMM -> reg ? (wide ? (q ? MOV_RI8 : MOV_RI4) : NONE) : size == 1 ? MOV_MI1 : wide ? (q ? MOV_MI8 : MOV_MI4) : NONE;
            case Insn.MOVZX -> !wide ? NONE : in.sub == 1 ? (reg ? MOVZX_R1 : MOVZX_M1) : reg ? MOVZX_R2 : MOVZX_M2;
            case Insn.MOVSX -> q && in.sub == 4 ? (reg ? MOVSXD_R : MOVSXD_M) : NONE;
            case Insn.ALU_RM_R -> !plainAlu ? NONE : size == 1 ? (reg ? NONE : ALU_MR1)
                    : !wide ? NONE : reg ? (q ? ALU_RR8 : ALU_RR4) : q ? ALU_MR8 : ALU_MR4;
            case Insn.ALU_R_RM -> reg || !plainAlu ? NONE : size == 1 ? ALU_RM1 : wide ? (q ? ALU_RM8 : ALU_RM4) : NONE;
            case Insn.ALU_RM_IMM -> aluImm(in, size, wide, q, reg, plainAlu);
            case Insn.TEST_RM_R -> size == 1 ? (reg ? TEST_RR1 : NONE) : wide && reg ? (q ? TEST_RR8 : TEST_RR4) : NONE;
            case Insn.TEST_RM_IMM -> size == 1 ? (reg ? TEST_RI1 : TEST_MI1) : !wide ? NONE : reg ? (q ? TEST_RI8 : TEST_RI4) : q ? TEST_MI8 : TEST_MI4;
            case Insn.SHIFT -> !wide || !reg ? NONE : !in.hasImm ? SHIFT_RC : q ? SHIFT_RI8 : SHIFT_RI4;
            case Insn.IMUL -> wide && reg ? IMUL_R : NONE;
            case Insn.INC_DEC -> !wide ? NONE : reg ? INC_DEC_R : INC_DEC_M;
            case Insn.GROUP3 -> wide && reg && (in.sub == 2 || in.sub == 3) ? NOT_NEG_R : NONE;
            case Insn.SETCC -> reg ? SETCC_R : NONE;
            case Insn.CMOVCC -> wide && reg ? CMOV_RR : NONE;
            case Insn.PUSH -> stack64 ? PUSH8 : NONE;
            case Insn.POP -> stack64 ? POP8 : NONE;
            case Insn.CALL -> stack64 ? CALL8 : NONE;
            case Insn.RET -> stack64 ? RET8 : NONE;
            case Insn.LEA -> q ? LEA8 : size == 4 ? LEA4 : NONE;
            case Insn.CALL_IND -> in.code64 && !reg ? CALL_M8 : NONE;
            case Insn.JMP_IND -> in.code64 && !reg ? JMP_M8 : NONE;
            default -> NONE;
        };
    }

    /** ALU r/m, imm: every plain operation on a register, CMP only on a byte register; on memory, CMP (flags alone) or the rest (ALU_MI). */
    private static int aluImm(Insn in, int size, boolean wide, boolean q, boolean reg, boolean plainAlu) {
        if (reg) {
            return wide && plainAlu ? (q ? ALU_RI8 : ALU_RI4) : size == 1 && in.sub == 7 ? CMP_RI1 : NONE;
        }
        if (in.sub != 7) {
            return plainAlu ? ALU_MI : NONE;
        }
        return size == 1 ? CMP_MI1 : wide ? (q ? CMP_MI8 : CMP_MI4) : ALU_MI;
    }
}
