package io.cloister.cpu.x86;

/**
 * The decoded path's commonest forms with their operand size and operand shape fixed, which
 * {@link DecodedPath} runs in one small switch of its own: there each helper is inlined with a
 * constant size and operation, where the general switch ({@code execDecoded}) passes them as
 * variables through calls the JIT does not inline (it is too big). Counted on the Linux boot,
 * these forms are about three quarters of the instructions the decoded path runs.
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
            case Insn.MOV_STORE -> !wide ? NONE : reg ? (q ? MOV_RR8 : MOV_RR4) : q ? STORE8 : STORE4;
            case Insn.MOV_LOAD -> !wide ? NONE : reg ? (q ? MOV_RR8_REV : MOV_RR4_REV) : q ? LOAD8 : LOAD4;
            case Insn.ALU_RM_R -> wide && reg && plainAlu ? (q ? ALU_RR8 : ALU_RR4) : NONE;
            case Insn.ALU_RM_IMM -> wide && reg && plainAlu ? (q ? ALU_RI8 : ALU_RI4) : NONE;
            case Insn.TEST_RM_R -> wide && reg ? (q ? TEST_RR8 : TEST_RR4) : NONE;
            case Insn.PUSH -> stack64 ? PUSH8 : NONE;
            case Insn.POP -> stack64 ? POP8 : NONE;
            case Insn.CALL -> stack64 ? CALL8 : NONE;
            case Insn.RET -> stack64 ? RET8 : NONE;
            case Insn.LEA -> q ? LEA8 : NONE;
            default -> NONE;
        };
    }
}
