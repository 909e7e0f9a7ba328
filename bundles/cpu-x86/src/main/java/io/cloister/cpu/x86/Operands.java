package io.cloister.cpu.x86;

import java.lang.foreign.ValueLayout;

/**
 * The interpreter's instruction fetch and operand decoding: prefixes' state, immediates, ModRM and
 * SIB addressing, segment bases, register or memory operands. ({@link Insn} is the decoder of the
 * decoded path.)
 */
abstract class Operands extends Alu {
    // Per-instruction decode state
    long ip;
    int opsize;
    int adsize;

    int rexW;
    int rexR;
    int rexX;
    int rexB;
    int rep;
    /** A 66 prefix was seen (SSE's mandatory prefix, kept apart from the operand size that REX.W overrides). */
    boolean p66;
    int seg;
    /** A segment override prefix (ES, CS, SS, DS, FS, GS as 0..5), or -1: what legacy mode addresses through. */
    int sego = -1;
    /** The segment base {@link #modrm} added to the offset (LEA takes it off again). */
    long eaBase;
    int modReg;
    boolean modIsReg;
    int modRm;
    long ea;

    int fetch8() {
        long lin = code64 ? ip : (ip + sbase[SEG_CS]) & 0xffffffffL;
        if ((lin & ~0xfffL) == codeLin) {
            ip++;
            return ram.get(ValueLayout.JAVA_BYTE, codePhys | (lin & 0xfff)) & 0xff;
        }
        long pa = translate(lin, FETCH);
        ip++;
        if (pa >= 0 && (pa | 0xfff) < ramSize) {
            codeLin = lin & ~0xfffL;
            codePhys = pa & ~0xfffL;
        }
        return (int) physRead(pa, 1);
    }

    long fetch(int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (long) fetch8() << (8 * i);
        }
        return v;
    }

    /** A signed immediate of {@code size} bytes (at most 4), sign-extended. */
    long imm(int size) {
        return Flags.sext(fetch(size), size);
    }

    /** Decodes ModRM (and SIB, displacement); {@code immBytes} follow it (for RIP-relative). */
    void modrm(int immBytes) {
        int b = fetch8();
        int mod = b >>> 6;
        modReg = ((b >>> 3) & 7) | (rexR << 3);
        int rm = b & 7;
        if (mod == 3) {
            modIsReg = true;
            modRm = rm | (rexB << 3);
            return;
        }
        modIsReg = false;
        if (adsize == 2) {
            modrm16(mod, rm);
            return;
        }
        long addr;
        boolean stack = false; // based on ESP or EBP: SS is the default segment
        if (rm == 4) {
            int sib = fetch8();
            int scale = sib >>> 6;
            int idx = ((sib >>> 3) & 7) | (rexX << 3);
            int base = (sib & 7) | (rexB << 3);
            if ((sib & 7) == 5 && mod == 0) {
                addr = imm(4);
            } else {
                addr = r[base];
                stack = (base & 7) == RSP || (base & 7) == RBP;
            }
            if (idx != 4) {
                addr += r[idx] << scale;
            }
        } else if (rm == 5 && mod == 0) {
            long disp = imm(4);
            addr = code64 ? ip + immBytes + disp : disp;
        } else {
            addr = r[rm | (rexB << 3)];
            stack = rm == RBP;
        }
        if (mod == 1) {
            addr += imm(1);
        } else if (mod == 2) {
            addr += imm(4);
        }
        if (adsize == 4) {
            addr &= 0xffffffffL;
        }
        long base = legacy ? legacyBase(stack ? SEG_SS : SEG_DS, addr) : segBase();
        eaBase = base;
        ea = addr + base;
    }

    /**
     * 16-bit addressing (SDM vol. 2, table 2-1): BX or BP plus SI or DI, SI, DI, BP, BX or disp16,
     * with an 8- or 16-bit displacement; the offset wraps at 64 KiB. BP-based forms use SS.
     */
    private void modrm16(int mod, int rm) {
        long bx = r[RBX] & 0xffff, bp = r[RBP] & 0xffff, si = r[RSI] & 0xffff, di = r[RDI] & 0xffff;
        long off = switch (rm) {
            case 0 -> bx + si;
            case 1 -> bx + di;
            case 2 -> bp + si;
            case 3 -> bp + di;
            case 4 -> si;
            case 5 -> di;
            case 6 -> mod == 0 ? fetch(2) : bp;
            default -> bx;
        };
        if (mod == 1) {
            off += imm(1);
        } else if (mod == 2) {
            off += fetch(2);
        }
        off &= 0xffff;
        boolean stack = rm == 2 || rm == 3 || (rm == 6 && mod != 0);
        long base = legacy ? legacyBase(stack ? SEG_SS : SEG_DS, off) : segBase();
        eaBase = base;
        ea = off + base;
    }

    /**
     * The base of the segment an operand at {@code offset} goes through in legacy mode: the
     * override prefix's, else {@code dflt}; an offset past the segment's limit is #GP(0), #SS(0)
     * for the stack segment (the limit is checked for the operand's first byte).
     */
    long legacyBase(int dflt, long offset) {
        int s = sego >= 0 ? sego : dflt;
        if (offset > slimit[s]) {
            throw fault(s == SEG_SS ? 12 : VEC_GP, 0);
        }
        return s < 4 ? sbase[s] : s == 4 ? fsBase : gsBase;
    }

    long segBase() {
        if (legacy) {
            int s = sego >= 0 ? sego : SEG_DS;
            return s < 4 ? sbase[s] : s == 4 ? fsBase : gsBase;
        }
        return seg == SEG_FS ? fsBase : seg == SEG_GS ? gsBase : 0;
    }

    long rm(int size) {
        if (modIsReg) {
            return getReg(modRm, size);
        }
        return atomic ? lockedRead(ea, size) : rd(ea, size);
    }

    void setRm(int size, long v) {
        if (modIsReg) {
            setReg(modRm, size, v);
        } else if (lockedPa >= 0) {
            lockedWrite(v);
        } else {
            wr(ea, size, v);
        }
    }

    /** Stack operand size: 8 in 64-bit mode (2 with 0x66), else the operand size. */
    int stackSize() {
        return code64 ? (opsize == 2 ? 2 : 8) : opsize;
    }

    long segBase(int s) {
        return s == SEG_FS ? fsBase : s == SEG_GS ? gsBase : 0;
    }

    /** The address size as a mask: the count register's width for LOOP and JrCXZ. */
    long addressMask() {
        return adsize == 8 ? -1L : adsize == 4 ? 0xffffffffL : 0xffffL;
    }

    Operands(Wiring w) {
        super(w);
    }
}
