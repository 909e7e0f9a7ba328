package io.cloister.cpu.x86;

/** The forms native blocks run (NativeBlockCompiler), and what each does with the flags. */
final class NativeForms {
    private NativeForms() {
    }

    /** Whether an instruction is of a form native code runs. */
    static boolean supported(Insn in) {
        if (!in.code64 || in.kind == Insn.GENERIC) {
            return false;
        }
        if (in.rm < 0 && (in.addressMask != -1L || in.disp != (int) in.disp)) {
            return false;
        }
        boolean wide = in.size == 4 || in.size == 8;
        boolean sized = wide || in.size == 1;
        return switch (in.kind) {
            case Insn.NOP, Insn.JMP -> true;
            case Insn.JCC -> true;
            case Insn.MOV_LOAD, Insn.MOV_STORE, Insn.MOV_IMM -> sized || in.size == 2;
            case Insn.LEA -> wide;
            case Insn.ALU_RM_R, Insn.ALU_R_RM, Insn.ALU_RM_IMM, Insn.TEST_RM_R, Insn.TEST_RM_IMM -> sized;
            case Insn.MOVZX -> wide && (in.sub == 1 || in.sub == 2);
            case Insn.MOVSX -> wide && (in.sub == 1 || in.sub == 2 || in.sub == 4 && in.size == 8);
            case Insn.INC_DEC -> wide;
            case Insn.IMUL -> wide && in.imm == (int) in.imm;
            case Insn.PUSH -> in.form == FastForms.PUSH8;
            case Insn.POP -> in.form == FastForms.POP8;
            case Insn.CALL -> in.form == FastForms.CALL8;
            case Insn.RET -> in.form == FastForms.RET8 && in.imm == 0;
            case Insn.JMP_IND, Insn.CALL_IND -> in.size == 8;
            // SHL, SHR, SAR by an immediate or CL; ROL, ROR by an immediate (by CL the count decides
            // whether OF follows the engine's rule: not covered)
            case Insn.SHIFT -> wide && in.rm >= 0 && (in.sub >= 4 || in.sub <= 1 && in.hasImm);
            // NOT, NEG of a register; MUL, DIV (unsigned) of a register or memory (#DE left to the dispatcher's path)
            case Insn.GROUP3 -> wide && (in.rm >= 0 && (in.sub == 2 || in.sub == 3) || in.sub == 4 || in.sub == 6);
            case Insn.BSWAP -> wide;
            case Insn.CONVERT -> wide;
            case Insn.SETCC -> in.rm >= 0;
            case Insn.CMOVCC -> wide;
            default -> false;
        };
    }

    /** Whether it reads the flags (or keeps some: INC/DEC keep CF, a shift by 0 all). */
    static boolean readsFlags(Insn in) {
        return switch (in.kind) {
            case Insn.JCC, Insn.INC_DEC, Insn.SETCC, Insn.CMOVCC, Insn.SHIFT -> true; // a shift by 0 keeps them
            case Insn.GROUP3 -> in.sub == 4; // MUL keeps SF, ZF, AF, PF (the engine's rule)
            case Insn.ALU_RM_R, Insn.ALU_R_RM, Insn.ALU_RM_IMM -> in.sub == 2 || in.sub == 3;
            default -> false;
        };
    }

    /** Whether it writes all six arithmetic flags, reading none. */
    static boolean writesAllFlags(Insn in) {
        return switch (in.kind) {
            case Insn.ALU_RM_R, Insn.ALU_R_RM, Insn.ALU_RM_IMM, Insn.TEST_RM_R, Insn.TEST_RM_IMM -> true;
            case Insn.GROUP3 -> in.sub == 3; // neg
            case Insn.IMUL -> true;
            default -> false;
        };
    }
}
