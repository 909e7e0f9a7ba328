package io.cloister.cpu.x86;

import java.util.Arrays;

/**
 * An x86-64 machine-code emitter for native blocks ({@link NativeBlockCompiler}): the few host
 * encodings they use, into a growable buffer, with forward jumps patched when their label is
 * bound. Host registers by their encoding number (RAX 0 .. R15 15). Memory operands are
 * {@code [base + index << scale + disp]}, base always a register.
 */
final class X64 {
    static final int RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7, R8 = 8, R9 = 9, R10 = 10, R11 = 11,
            R12 = 12, R13 = 13, R14 = 14, R15 = 15;
    static final int NO_INDEX = -1;
    /** A memory operand without a base register: [index << scale + disp32]. */
    static final int NO_BASE = -2;

    private byte[] b = new byte[1024];
    private int n;

    int size() {
        return n;
    }

    byte[] bytes() {
        return Arrays.copyOf(b, n);
    }

    void u8(int v) {
        if (n == b.length) {
            b = Arrays.copyOf(b, 2 * n);
        }
        b[n++] = (byte) v;
    }

    void u32(int v) {
        u8(v);
        u8(v >>> 8);
        u8(v >>> 16);
        u8(v >>> 24);
    }

    void u64(long v) {
        u32((int) v);
        u32((int) (v >>> 32));
    }

    /** REX with W for 64-bit operands; emitted only when needed (or always with {@code force}, for byte registers SPL..DIL). */
    private void rex(boolean w, int reg, int index, int base, boolean force) {
        int r = (w ? 8 : 0) | (reg >= 8 ? 4 : 0) | (index >= 8 ? 2 : 0) | (base >= 8 ? 1 : 0);
        if (r != 0 || force) {
            u8(0x40 | r);
        }
    }

    /** ModRM (and SIB and displacement) for register {@code reg} and memory {@code [base + index << scale + disp]}. */
    private void mem(int reg, int base, int index, int scale, int disp) {
        if (base == NO_BASE) {
            u8((reg & 7) << 3 | 4);
            u8(scale << 6 | (index & 7) << 3 | 5);
            u32(disp);
            return;
        }
        int mod = disp == 0 && (base & 7) != RBP ? 0 : disp == (byte) disp ? 1 : 2;
        if (index == NO_INDEX && (base & 7) != RSP) {
            u8(mod << 6 | (reg & 7) << 3 | (base & 7));
        } else {
            u8(mod << 6 | (reg & 7) << 3 | 4);
            u8(scale << 6 | (index == NO_INDEX ? 4 : index & 7) << 3 | (base & 7));
        }
        if (mod == 1) {
            u8(disp);
        } else if (mod == 2) {
            u32(disp);
        }
    }

    /** An instruction {@code opcode} (one or two bytes: 0x0fXX) between register {@code reg} and memory, 64-bit if {@code w}. */
    void rm(boolean w, int opcode, int reg, int base, int index, int scale, int disp) {
        rex(w, reg, index == NO_INDEX ? 0 : index, base, false);
        op(opcode);
        mem(reg, base, index, scale, disp);
    }

    void rm(boolean w, int opcode, int reg, int base, int disp) {
        rm(w, opcode, reg, base, NO_INDEX, 0, disp);
    }

    /** An instruction {@code opcode} between two registers (ModRM mod 3: {@code reg}, {@code rmReg}). */
    void rr(boolean w, int opcode, int reg, int rmReg) {
        rex(w, reg, 0, rmReg, false);
        op(opcode);
        u8(0xc0 | (reg & 7) << 3 | (rmReg & 7));
    }

    private void op(int opcode) {
        if (opcode > 0xff) {
            u8(opcode >>> 8);
        }
        u8(opcode);
    }

    // Moves between host registers and memory

    void load(int dst, int base, int disp) {
        rm(true, 0x8b, dst, base, disp);
    }

    void store(int base, int disp, int src) {
        rm(true, 0x89, src, base, disp);
    }

    void movRR(int dst, int src) {
        rr(true, 0x89, src, dst);
    }

    void movImm(int dst, long v) {
        if (v == (int) v) {
            rex(true, 0, 0, dst, false);
            u8(0xc7);
            u8(0xc0 | (dst & 7));
            u32((int) v);
        } else {
            rex(true, 0, 0, dst, false);
            u8(0xb8 | (dst & 7));
            u64(v);
        }
    }

    void lea(int dst, int base, int index, int scale, int disp) {
        rm(true, 0x8d, dst, base, index, scale, disp);
    }

    /** A load of {@code size} bytes from [base + disp] into dst, zero-extended to 64 bits. */
    void loadSized(int size, int dst, int base, int disp) {
        switch (size) {
            case 1 -> rm(false, 0x0fb6, dst, base, disp);
            case 2 -> rm(false, 0x0fb7, dst, base, disp);
            case 4 -> rm(false, 0x8b, dst, base, disp);
            default -> rm(true, 0x8b, dst, base, disp);
        }
    }

    /** A store of the low {@code size} bytes of src to [base + disp]. */
    void storeSized(int size, int base, int disp, int src) {
        switch (size) {
            case 1 -> {
                rex(false, src, 0, base, src >= 4);
                u8(0x88);
                mem(src, base, NO_INDEX, 0, disp);
            }
            case 2 -> {
                u8(0x66);
                rm(false, 0x89, src, base, disp);
            }
            case 4 -> rm(false, 0x89, src, base, disp);
            default -> rm(true, 0x89, src, base, disp);
        }
    }

    void storeSized(int size, int base, int src) {
        storeSized(size, base, 0, src);
    }

    // Flags

    void pushf() {
        u8(0x9c);
    }

    void popf() {
        u8(0x9d);
    }

    void push(int r) {
        if (r >= 8) {
            u8(0x41);
        }
        u8(0x50 | (r & 7));
    }

    void pop(int r) {
        if (r >= 8) {
            u8(0x41);
        }
        u8(0x58 | (r & 7));
    }

    void pushMem(int base, int disp) {
        rm(false, 0xff, 6, base, disp);
    }

    void popMem(int base, int disp) {
        rm(false, 0x8f, 0, base, disp);
    }

    void ret() {
        u8(0xc3);
    }

    // Jumps: rel32 always, patched when the label is bound

    static final class Label {
        int at = -1;
        int[] uses = new int[2];
        int nUses;
    }

    void bind(Label l) {
        l.at = n;
        for (int i = 0; i < l.nUses; i++) {
            patch(l.uses[i], l.at);
        }
        l.nUses = 0;
    }

    private void patch(int field, int target) {
        int rel = target - (field + 4);
        b[field] = (byte) rel;
        b[field + 1] = (byte) (rel >>> 8);
        b[field + 2] = (byte) (rel >>> 16);
        b[field + 3] = (byte) (rel >>> 24);
    }

    private void target(Label l) {
        if (l.at >= 0) {
            u32(l.at - (n + 4));
        } else {
            if (l.nUses == l.uses.length) {
                l.uses = Arrays.copyOf(l.uses, 2 * l.nUses);
            }
            l.uses[l.nUses++] = n;
            u32(0);
        }
    }

    void jmp(Label l) {
        u8(0xe9);
        target(l);
    }

    /** Jcc with x86 condition code {@code cc} (0 O .. 15 G). */
    void jcc(int cc, Label l) {
        u8(0x0f);
        u8(0x80 | cc);
        target(l);
    }

    /** JRCXZ to a label within 127 bytes after: it reads and writes no flags. */
    void jrcxzShort(int rel8) {
        u8(0xe3);
        u8(rel8);
    }

    /** To {@code l} when RCX is 0, touching no flags: JRCXZ (rel8 only) over a JMP on to a JMP to l. */
    void jrcxz(Label l) {
        Label on = new Label();
        jrcxzShort(5);
        jmp(on);
        jmp(l);
        bind(on);
    }
}
