package io.cloister.cpu.x86;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One decoded instruction of the forms gcc emits most (moves, the ALU, compares and branches,
 * calls, stack, lea, extensions, shifts, imul, setcc/cmovcc): decoded once per physical address,
 * then executed from these fields. Everything else is {@link #GENERIC}: the interpreter decodes
 * and runs it from guest memory as before. Decoding depends only on the bytes and the code mode,
 * never on register values, so an entry stays valid until its page is written.
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
    boolean addr32;
    int seg;
    long imm;
    boolean hasImm;
    /** Times run through the decoded path; past a threshold its block is compiled. */
    int heat;
    /** The compiled block starting here, if any; dropped with this entry. */
    Block block;

    private Insn(int kind, int len, int flags) {
        this.kind = kind;
        this.len = len;
        this.code64 = flags != 0;
    }

    /** The instruction's effective address (for a memory operand); {@code next} is its end. */
    long ea(long[] r, long next, long segBase) {
        long a = disp;
        if (base >= 0) {
            a += r[base];
        } else if (ripRelative) {
            a += next;
        }
        if (index >= 0) {
            a += r[index] << scale;
        }
        if (addr32) {
            a &= 0xffffffffL;
        }
        return a + segBase;
    }

    /** Byte reader that refuses to leave the page: an instruction crossing it stays generic. */
    private static final class Bytes {
        final MemorySegment ram;
        final long page;
        int off;

        Bytes(MemorySegment ram, long pa) {
            this.ram = ram;
            this.page = pa & ~0xfffL;
            this.off = (int) (pa & 0xfff);
        }

        int u8() {
            if (off >= 4096) {
                throw CROSSES;
            }
            return ram.get(ValueLayout.JAVA_BYTE, page + off++) & 0xff;
        }

        long s(int n) {
            long v = 0;
            for (int i = 0; i < n; i++) {
                v |= (long) u8() << (8 * i);
            }
            return Flags.sext(v, n);
        }
    }

    private static final RuntimeException CROSSES = new RuntimeException(null, null, false, false) {
        private static final long serialVersionUID = 1L;
    };

    /**
     * Decodes the instruction at physical {@code pa} of {@code ram}; the page is RAM. Returns a
     * GENERIC entry for forms left to the interpreter (and for instructions crossing the page).
     */
    static Insn decode(MemorySegment ram, long pa, boolean code64) {
        try {
            return decode(new Bytes(ram, pa), code64);
        } catch (RuntimeException crosses) {
            if (crosses != CROSSES) {
                throw crosses;
            }
            return generic(code64);
        }
    }

    private static Insn generic(boolean code64) {
        return new Insn(GENERIC, 0, code64 ? 1 : 0);
    }

    private static Insn decode(Bytes b, boolean code64) {
        int start = b.off;
        int opsize = 4;
        boolean addr32 = !code64;
        int seg = X86Vcpu.SEG_NONE;
        int op;
        while (true) {
            op = b.u8();
            switch (op) {
                case 0x66 -> opsize = 2;
                case 0x67 -> {
                    if (!code64) {
                        return generic(false); // 16-bit addressing
                    }
                    addr32 = true;
                }
                case 0xf2, 0xf3, 0xf0 -> {
                    return generic(code64); // rep forms, lock: rare in hot code, left to the interpreter
                }
                case 0x2e, 0x3e, 0x26, 0x36 -> { }
                case 0x64 -> seg = X86Vcpu.SEG_FS;
                case 0x65 -> seg = X86Vcpu.SEG_GS;
                default -> {
                    return decodeOp(b, code64, start, op, opsize, addr32, seg);
                }
            }
        }
    }

    private static Insn decodeOp(Bytes b, boolean code64, int start, int op, int opsize, boolean addr32, int seg) {
        int rex = 0;
        boolean hasRex = false;
        if (code64 && (op & 0xf0) == 0x40) {
            hasRex = true;
            rex = op;
            op = b.u8();
            if ((op & 0xf0) == 0x40) {
                return generic(true);
            }
            if ((rex & 8) != 0) {
                opsize = 8;
            }
        }
        int rexR = (rex >>> 2) & 1;
        int rexB = rex & 1;
        Form f = new Form(b, code64, rex, addr32, seg);
        int kind;
        int size = opsize;
        int sub = 0;
        int reg = -1;
        long imm = 0;
        boolean hasImm = false;
        if (op < 0x40 && (op & 7) < 6) {
            sub = op >>> 3;
            size = (op & 1) == 0 ? 1 : opsize;
            switch (op & 7) {
                case 0, 1 -> {
                    f.modrm();
                    kind = ALU_RM_R;
                }
                case 2, 3 -> {
                    f.modrm();
                    kind = ALU_R_RM;
                }
                default -> {
                    f.rm = X86Vcpu.RAX;
                    kind = ALU_RM_IMM;
                    imm = b.s(Math.min(size, 4)) & Flags.mask(size);
                }
            }
        } else if (op >= 0x50 && op <= 0x5f) {
            kind = op < 0x58 ? PUSH : POP;
            reg = (op & 7) | (rexB << 3);
            size = code64 ? (opsize == 2 ? 2 : 8) : opsize;
        } else if (!code64 && op >= 0x40 && op <= 0x4f) {
            kind = INC_DEC; // one-byte inc/dec r32, outside 64-bit mode (there: REX)
            sub = op < 0x48 ? 0 : 1;
            f.rm = op & 7;
        } else if (op >= 0x70 && op <= 0x7f) {
            kind = JCC;
            sub = op & 0xf;
            imm = b.s(1);
        } else if (op >= 0xb0 && op <= 0xbf) {
            kind = MOV_IMM;
            size = op < 0xb8 ? 1 : opsize;
            f.rm = (op & 7) | (rexB << 3);
            long v = 0;
            for (int i = 0; i < size; i++) {
                v |= (long) b.u8() << (8 * i);
            }
            imm = v;
        } else {
            switch (op) {
                case 0x0f -> {
                    return decode0f(b, f, code64, start, opsize, hasRex);
                }
                case 0x63 -> {
                    f.modrm();
                    kind = MOVSX;
                    sub = 4;
                }
                case 0x69, 0x6b -> {
                    f.modrm();
                    kind = IMUL;
                    imm = b.s(op == 0x69 ? Math.min(opsize, 4) : 1);
                    hasImm = true;
                }
                case 0x80, 0x81, 0x83 -> {
                    size = op == 0x80 ? 1 : opsize;
                    f.modrm();
                    kind = ALU_RM_IMM;
                    sub = f.reg & 7;
                    imm = b.s(op == 0x81 ? Math.min(size, 4) : 1) & Flags.mask(size);
                }
                case 0x84, 0x85 -> {
                    size = op == 0x84 ? 1 : opsize;
                    f.modrm();
                    kind = TEST_RM_R;
                }
                case 0x88, 0x89 -> {
                    size = op == 0x88 ? 1 : opsize;
                    f.modrm();
                    kind = MOV_STORE;
                }
                case 0x8a, 0x8b -> {
                    size = op == 0x8a ? 1 : opsize;
                    f.modrm();
                    kind = MOV_LOAD;
                }
                case 0x8d -> {
                    f.modrm();
                    if (f.rm >= 0) {
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
                    f.modrm();
                    int r = f.reg & 7;
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
                    f.rm = X86Vcpu.RAX;
                    kind = TEST_RM_IMM;
                    imm = b.s(Math.min(size, 4)) & Flags.mask(size);
                }
                case 0xc0, 0xc1, 0xd0, 0xd1, 0xd3 -> {
                    size = (op & 1) == 0 ? 1 : opsize;
                    f.modrm();
                    kind = SHIFT;
                    sub = f.reg & 7;
                    hasImm = op != 0xd3;
                    imm = op <= 0xc1 ? b.u8() : 1;
                }
                case 0xc3 -> {
                    kind = RET;
                    size = code64 ? (opsize == 2 ? 2 : 8) : opsize;
                }
                case 0xc6, 0xc7 -> {
                    size = op == 0xc6 ? 1 : opsize;
                    f.modrm();
                    if ((f.reg & 7) != 0) {
                        return generic(code64);
                    }
                    kind = MOV_IMM;
                    imm = b.s(Math.min(size, 4));
                }
                case 0xe8 -> {
                    if (opsize == 2) {
                        return generic(code64);
                    }
                    kind = CALL;
                    size = code64 ? 8 : 4;
                    imm = b.s(4);
                }
                case 0xe9, 0xeb -> {
                    if (opsize == 2) {
                        return generic(code64);
                    }
                    kind = JMP;
                    imm = b.s(op == 0xeb ? 1 : 4);
                }
                case 0xf6, 0xf7 -> {
                    size = op == 0xf6 ? 1 : opsize;
                    f.modrm();
                    if ((f.reg & 7) > 1) {
                        kind = GROUP3;
                        sub = f.reg & 7;
                    } else {
                        kind = TEST_RM_IMM;
                        imm = b.s(Math.min(size, 4)) & Flags.mask(size);
                    }
                }
                default -> {
                    return generic(code64);
                }
            }
        }
        return f.finish(kind, b.off - start, size, sub, reg < 0 ? f.reg : reg, imm, hasImm, hasRex);
    }

    private static Insn decode0f(Bytes b, Form f, boolean code64, int start, int opsize, boolean hasRex) {
        int op = b.u8();
        int kind;
        int size = opsize;
        int sub = 0;
        long imm = 0;
        if (op >= 0x80 && op <= 0x8f) {
            kind = JCC;
            sub = op & 0xf;
            imm = b.s(4);
        } else if (op >= 0x90 && op <= 0x9f) {
            f.modrm();
            kind = SETCC;
            sub = op & 0xf;
            size = 1;
        } else if (op >= 0x40 && op <= 0x4f) {
            f.modrm();
            kind = CMOVCC;
            sub = op & 0xf;
        } else {
            switch (op) {
                case 0x1f -> {
                    f.modrm();
                    kind = NOP;
                }
                case 0xaf -> {
                    f.modrm();
                    kind = IMUL;
                }
                case 0xb6, 0xb7 -> {
                    f.modrm();
                    kind = MOVZX;
                    sub = op == 0xb6 ? 1 : 2;
                }
                case 0xbe, 0xbf -> {
                    f.modrm();
                    kind = MOVSX;
                    sub = op == 0xbe ? 1 : 2;
                }
                default -> {
                    return generic(code64);
                }
            }
        }
        return f.finish(kind, b.off - start, size, sub, f.reg, imm, false, hasRex);
    }

    /** ModRM, SIB and displacement, decoded as the interpreter's {@code modrm} does. */
    private static final class Form {
        final Bytes b;
        final boolean code64;
        final int rex;
        final boolean addr32;
        final int seg;
        int reg = -1;
        int rm = -1;
        int base = -1;
        int index = -1;
        int scale;
        long disp;
        boolean ripRelative;

        Form(Bytes b, boolean code64, int rex, boolean addr32, int seg) {
            this.b = b;
            this.code64 = code64;
            this.rex = rex;
            this.addr32 = addr32;
            this.seg = seg;
        }

        void modrm() {
            int m = b.u8();
            int mod = m >>> 6;
            reg = ((m >>> 3) & 7) | (((rex >>> 2) & 1) << 3);
            int r = m & 7;
            int rexB = rex & 1;
            if (mod == 3) {
                rm = r | (rexB << 3);
                return;
            }
            if (r == 4) {
                int sib = b.u8();
                scale = sib >>> 6;
                int idx = ((sib >>> 3) & 7) | (((rex >>> 1) & 1) << 3);
                if ((sib & 7) == 5 && mod == 0) {
                    disp = b.s(4);
                } else {
                    base = (sib & 7) | (rexB << 3);
                }
                if (idx != 4) {
                    index = idx;
                }
            } else if (r == 5 && mod == 0) {
                disp = b.s(4);
                ripRelative = code64;
            } else {
                base = r | (rexB << 3);
            }
            if (mod == 1) {
                disp += b.s(1);
            } else if (mod == 2) {
                disp += b.s(4);
            }
        }

        Insn finish(int kind, int len, int size, int sub, int reg, long imm, boolean hasImm, boolean hasRex) {
            Insn i = new Insn(kind, len, code64 ? 1 : 0);
            i.size = size;
            i.sub = sub;
            i.reg = reg;
            i.rm = rm;
            i.base = base;
            i.index = index;
            i.scale = scale;
            i.disp = disp;
            i.ripRelative = ripRelative;
            i.addr32 = addr32;
            i.seg = seg;
            i.imm = imm;
            i.hasImm = hasImm;
            i.rex = hasRex;
            return i;
        }
    }
}
