package io.cloister.cpu.x86;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One decoded instruction of the forms gcc emits most (moves, the ALU, compares and branches,
 * calls, stack, lea, extensions, shifts, imul, setcc/cmovcc): decoded once per physical address,
 * then executed from these fields, which it takes from the one {@link Decoder}. Everything else is
 * {@link #GENERIC}: the interpreter decodes and runs it. Decoding depends only on the bytes and the
 * code mode, never on register values, so an entry stays valid until its page is written. The code
 * mode is 64-bit or 32-bit (an entry is decoded again when code64 differs): 16-bit code, also in
 * long mode's compatibility mode, never reaches the decoded path (the run loop sends it to the
 * interpreter), as 32-bit defaults would decode it wrongly.
 */
final class Insn {
    static final int GENERIC = 0;
    static final int MOV_STORE = 1; // rm <- reg
    static final int MOV_LOAD = 2; // reg <- rm
    static final int MOV_IMM = 3; // rm <- imm
    static final int ALU_RM_R = 4; // rm op= reg
    static final int ALU_R_RM = 5; // reg op= rm
    static final int ALU_RM_IMM = 6; // rm op= imm
    static final int TEST_RM_R = 7;
    static final int TEST_RM_IMM = 8;
    static final int JCC = 9;
    static final int JMP = 10;
    static final int CALL = 11;
    static final int RET = 12;
    static final int PUSH = 13;
    static final int POP = 14;
    static final int LEA = 15;
    static final int MOVSX = 16; // reg <- sext(rm of sub bytes)
    static final int MOVZX = 17; // reg <- zext(rm of sub bytes)
    static final int IMUL = 18; // reg <- rm * (imm or reg)
    static final int SHIFT = 19; // rm <- shift(sub, rm, count): imm, or CL when hasImm is false
    static final int SETCC = 20;
    static final int CMOVCC = 21;
    static final int NOP = 22;
    static final int INC_DEC = 23; // sub 0 inc, 1 dec
    static final int JMP_IND = 24; // jmp r/m
    static final int CALL_IND = 25; // call r/m
    static final int CONVERT = 26; // sub 0: cbw/cwde/cdqe, 1: cwd/cdq/cqo
    static final int GROUP3 = 27; // sub 2 not, 3 neg, 4 mul, 5 imul, 6 div, 7 idiv (of the accumulator)
    static final int BSWAP = 28; // of register rm, 4 or 8 bytes
    static final int BIT_SCAN = 29; // reg <- sub 0 popcnt, 1 bsf, 2 bsr, 3 lzcnt of rm (Alu.bitScan)

    final int kind;
    final int len;
    final boolean code64;
    int size;
    boolean rex;
    int sub; // ALU operation, condition code, shift operation, source size
    int reg = -1;
    int rm = -1; // register operand, or -1 when the operand is in memory
    int base = -1;
    int index = -1;
    int scale;
    long disp;
    boolean ripRelative;
    /** The address size as a mask (32- or 64-bit addressing: 16-bit stays with the interpreter). */
    long addressMask;
    int seg;
    long imm;
    boolean hasImm;
    /** A GENERIC entry's decoded shape, which the interpreter runs without decoding again (null: crosses the page). */
    Decoder shape;
    /** Its {@link FastForms} form, or {@link FastForms#NONE}. */
    int form;
    /** Times run through the decoded path; past a threshold its block is compiled. */
    int heat;
    /** The compiled block starting here, if any; dropped with this entry. */
    Block block;
    /** Its block being compiled in the background, if it is. */
    BackgroundCompile compiling;
    /** The first op of the trace the decoded path runs from here, its ops linked (see DecodedPath.trace); null until made. */
    Ops.Op trace;
    /** Its op ({@link Ops}), made with the first trace it is in. */
    Ops.Op op;
    /**
     * The entries the decoded path went on to after a dispatch from here (the two latest, at linear
     * addresses nextLin0/nextLin1), valid while the vCPU's codeGen is still nextGen: the next
     * dispatch finds its entry without the page lookup (DecodedPath.dispatch).
     */
    Insn next0;
    Insn next1;
    long nextLin0;
    long nextLin1;
    long nextGen;

    private Insn(int kind, int len, int flags) {
        this.kind = kind;
        this.len = len;
        this.code64 = flags != 0;
    }

    /** The instruction's effective address (for a memory operand), the rule of {@link Operands#offset}; {@code next} is its end. */
    long ea(long[] r, long next, long segBase) {
        return Operands.offset(r, base, index, scale, disp, ripRelative, next, addressMask) + segBase;
    }

    /** The decoder over one page of RAM: an instruction crossing it (or longer than 15 bytes) stays generic. */
    private static final class PageDecoder extends Decoder {
        MemorySegment ram;
        long page;
        int off;

        /** Points the decoder at physical {@code pa} of {@code ram}, its window filled where the page holds 16 bytes from there. */
        void at(MemorySegment ram, long pa) {
            this.ram = ram;
            this.page = pa & ~0xfffL;
            this.off = (int) (pa & 0xfff);
            if (off <= 4096 - 16) {
                window(ram.get(Operands.CODE_WORD, pa), ram.get(Operands.CODE_WORD, pa + 8));
            } else {
                noWindow();
            }
        }

        @Override
        int u8(int k) {
            if (off + k >= 4096) {
                throw CROSSES;
            }
            return ram.get(ValueLayout.JAVA_BYTE, page + off + k) & 0xff;
        }

        @Override
        RuntimeException tooLong() {
            return CROSSES;
        }
    }

    /**
     * Each thread's decoder, used again for every instruction it decodes (decode resets all it
     * sets) except a GENERIC entry's, which keeps it as its shape: one new decoder per decoded
     * instruction was a third of what the vCPU allocated in a Linux boot (57 MB of 170 MB).
     */
    private static final ThreadLocal<PageDecoder> DECODER = ThreadLocal.withInitial(PageDecoder::new);

    private static final RuntimeException CROSSES = new RuntimeException(null, null, false, false) {
        private static final long serialVersionUID = 1L;
    };

    /**
     * Decodes the instruction at physical {@code pa} of {@code ram}; the page is RAM. Returns a
     * GENERIC entry for forms left to the interpreter (and for instructions crossing the page).
     */
    static Insn decode(MemorySegment ram, long pa, boolean code64) {
        PageDecoder d = DECODER.get();
        d.at(ram, pa);
        try {
            d.decode(code64, false);
        } catch (RuntimeException crosses) {
            if (crosses != CROSSES) {
                throw crosses;
            }
            return generic(code64);
        }
        Insn i;
        if (d.undefined || d.rep != 0 && !isBitScan(d) || d.lock || d.adsize == 2) {
            i = null; // #UD; rep forms and lock, rare in hot code; 16-bit addressing
        } else {
            i = switch (d.map) {
                case Decoder.MAP_ONE -> oneByte(d, code64);
                case Decoder.MAP_0F -> twoByte(d, code64);
                default -> null;
            };
        }
        if (i == null || i.kind == GENERIC) { // the interpreter runs it from its shape
            i = new Insn(GENERIC, d.len, code64 ? 1 : 0);
            i.shape = d;
            DECODER.set(new PageDecoder()); // the entry keeps this one
        }
        return i;
    }

    /** F3 0F B8 (POPCNT) and F3 0F BD (LZCNT) take F3 as part of the opcode; F3 0F BC runs as BSF. */
    private static boolean isBitScan(Decoder d) {
        return d.rep == 0xf3 && d.map == Decoder.MAP_0F && (d.op == 0xb8 || d.op == 0xbc || d.op == 0xbd);
    }

    private static Insn generic(boolean code64) {
        return new Insn(GENERIC, 0, code64 ? 1 : 0);
    }

    /** A sign-extended immediate masked to the operand size (the ALU's and TEST's second operand). */
    private static long immOf(Decoder d, int size) {
        return d.simm() & Flags.mask(size);
    }

    /** The one-byte forms the decoded path runs. */
    private static Insn oneByte(Decoder d, boolean code64) {
        int op = d.op;
        int opsize = d.opsize;
        int rexB = d.rexB;
        int kind;
        int size = opsize;
        int sub = 0;
        boolean hasModrm = d.modrm >= 0;
        int rm = hasModrm && d.modIsReg ? d.rm : -1;
        int reg = hasModrm ? d.reg : -1;
        long imm = 0;
        boolean hasImm = false;
        if (op < 0x40 && (op & 7) < 6) {
            sub = op >>> 3;
            size = (op & 1) == 0 ? 1 : opsize;
            switch (op & 7) {
                case 0, 1 -> kind = ALU_RM_R;
                case 2, 3 -> kind = ALU_R_RM;
                default -> {
                    rm = X86Vcpu.RAX;
                    kind = ALU_RM_IMM;
                    imm = immOf(d, size);
                }
            }
        } else if (op >= 0x50 && op <= 0x5f) {
            kind = op < 0x58 ? PUSH : POP;
            reg = (op & 7) | (rexB << 3);
            size = code64 ? (opsize == 2 ? 2 : 8) : opsize;
        } else if (!code64 && op >= 0x40 && op <= 0x4f) {
            kind = INC_DEC; // one-byte inc/dec r32, outside 64-bit mode (there: REX)
            sub = op < 0x48 ? 0 : 1;
            rm = op & 7;
        } else if (op >= 0x70 && op <= 0x7f) {
            if (opsize == 2) {
                return generic(code64); // 0x66 outside 64-bit mode: IP truncated to 16 bits, as in ControlFlow.jump
            }
            kind = JCC;
            sub = op & 0xf;
            imm = d.simm();
        } else if (op >= 0xb0 && op <= 0xbf) {
            kind = MOV_IMM;
            size = op < 0xb8 ? 1 : opsize;
            rm = (op & 7) | (rexB << 3);
            imm = d.imm;
        } else {
            switch (op) {
                case 0x63 -> {
                    kind = MOVSX;
                    sub = 4;
                }
                case 0x69, 0x6b -> {
                    kind = IMUL;
                    imm = d.simm();
                    hasImm = true;
                }
                case 0x80, 0x81, 0x83 -> {
                    size = op == 0x80 ? 1 : opsize;
                    kind = ALU_RM_IMM;
                    sub = d.reg & 7;
                    imm = immOf(d, size);
                }
                case 0x84, 0x85 -> {
                    size = op == 0x84 ? 1 : opsize;
                    kind = TEST_RM_R;
                }
                case 0x88, 0x89 -> {
                    size = op == 0x88 ? 1 : opsize;
                    kind = MOV_STORE;
                }
                case 0x8a, 0x8b -> {
                    size = op == 0x8a ? 1 : opsize;
                    kind = MOV_LOAD;
                }
                case 0x8d -> {
                    if (rm >= 0) {
                        return generic(code64); // #UD, raised by the interpreter
                    }
                    kind = LEA;
                }
                case 0x90 -> {
                    if (rexB != 0) {
                        return generic(code64); // xchg r8, rax
                    }
                    kind = NOP;
                }
                case 0x98, 0x99 -> {
                    kind = CONVERT;
                    sub = op - 0x98;
                }
                case 0xfe, 0xff -> {
                    size = op == 0xfe ? 1 : opsize;
                    int r = d.reg & 7;
                    if (r <= 1) {
                        kind = INC_DEC;
                        sub = r;
                    } else if (op == 0xff && (r == 2 || r == 4) && opsize != 2) {
                        kind = r == 2 ? CALL_IND : JMP_IND;
                        size = code64 ? 8 : opsize; // the target's size, and the pushed return address's
                    } else {
                        return generic(code64); // push r/m, far forms, 16-bit near forms
                    }
                }
                case 0xa8, 0xa9 -> {
                    size = op == 0xa8 ? 1 : opsize;
                    rm = X86Vcpu.RAX;
                    kind = TEST_RM_IMM;
                    imm = immOf(d, size);
                }
                case 0xc0, 0xc1, 0xd0, 0xd1, 0xd3 -> {
                    size = (op & 1) == 0 ? 1 : opsize;
                    kind = SHIFT;
                    sub = d.reg & 7;
                    hasImm = op != 0xd3;
                    imm = op <= 0xc1 ? d.imm : 1;
                }
                case 0xc3 -> {
                    kind = RET;
                    size = code64 ? (opsize == 2 ? 2 : 8) : opsize;
                }
                case 0xc6, 0xc7 -> {
                    size = op == 0xc6 ? 1 : opsize;
                    if ((d.reg & 7) != 0) {
                        return generic(code64);
                    }
                    kind = MOV_IMM;
                    imm = d.simm();
                }
                case 0xe8 -> {
                    if (opsize == 2) {
                        return generic(code64);
                    }
                    kind = CALL;
                    size = code64 ? 8 : 4;
                    imm = d.simm();
                }
                case 0xe9, 0xeb -> {
                    if (opsize == 2) {
                        return generic(code64);
                    }
                    kind = JMP;
                    imm = d.simm();
                }
                case 0xf6, 0xf7 -> {
                    size = op == 0xf6 ? 1 : opsize;
                    if ((d.reg & 7) > 1) {
                        kind = GROUP3;
                        sub = d.reg & 7;
                    } else {
                        kind = TEST_RM_IMM;
                        imm = immOf(d, size);
                    }
                }
                default -> {
                    return generic(code64);
                }
            }
        }
        return finish(d, code64, kind, size, sub, reg, rm, imm, hasImm);
    }

    /** The 0F forms the decoded path runs. */
    private static Insn twoByte(Decoder d, boolean code64) {
        int op = d.op;
        int kind;
        int size = d.opsize;
        int sub = 0;
        long imm = 0;
        if (op >= 0x80 && op <= 0x8f) {
            if (size == 2) {
                return generic(code64); // rel16, IP truncated to 16 bits: the interpreter's
            }
            kind = JCC;
            sub = op & 0xf;
            imm = d.simm();
        } else if (op >= 0x90 && op <= 0x9f) {
            kind = SETCC;
            sub = op & 0xf;
            size = 1;
        } else if (op >= 0x40 && op <= 0x4f) {
            kind = CMOVCC;
            sub = op & 0xf;
        } else {
            switch (op) {
                case 0x0d, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f -> kind = NOP; // hint NOPs, prefetches (the interpreter's too)
                case 0xaf -> kind = IMUL;
                case 0xb6, 0xb7 -> {
                    kind = MOVZX;
                    sub = op == 0xb6 ? 1 : 2;
                }
                case 0xbe, 0xbf -> {
                    kind = MOVSX;
                    sub = op == 0xbe ? 1 : 2;
                }
                case 0xb8, 0xbc, 0xbd -> {
                    if (op == 0xb8 && d.rep != 0xf3) {
                        return generic(code64); // #UD: the interpreter raises it
                    }
                    kind = BIT_SCAN;
                    sub = Alu.bitScanForm(op, d.rep);
                }
                case 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf -> {
                    if (size == 2) {
                        return generic(code64); // undefined: the interpreter's
                    }
                    return finish(d, code64, BSWAP, size, 0, -1, (op & 7) | (d.rexB << 3), 0, false);
                }
                default -> {
                    return generic(code64);
                }
            }
        }
        boolean hasModrm = d.modrm >= 0; // all but JCC
        return finish(d, code64, kind, size, sub, hasModrm ? d.reg : -1, hasModrm && d.modIsReg ? d.rm : -1, imm, false);
    }

    private static Insn finish(Decoder d, boolean code64, int kind, int size, int sub, int reg, int rm, long imm, boolean hasImm) {
        Insn i = new Insn(kind, d.len, code64 ? 1 : 0);
        i.size = size;
        i.sub = sub;
        i.reg = reg;
        i.rm = rm;
        if (d.modrm >= 0 && !d.modIsReg) {
            i.base = d.base;
            i.index = d.index;
            i.scale = d.scale;
            i.disp = d.disp;
            i.ripRelative = d.ripRelative;
        }
        i.addressMask = d.addressMask();
        i.seg = d.seg;
        i.imm = imm;
        i.hasImm = hasImm;
        i.rex = d.rexPresent;
        i.form = FastForms.of(i);
        return i;
    }
}
