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
    int modReg;
    boolean modIsReg;
    int modRm;
    long ea;

    int fetch8() {
        long lin = code64 ? ip : ip & 0xffffffffL;
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
            throw ud(); // 16-bit addressing
        }
        long addr;
        if (rm == 4) {
            int sib = fetch8();
            int scale = sib >>> 6;
            int idx = ((sib >>> 3) & 7) | (rexX << 3);
            int base = (sib & 7) | (rexB << 3);
            if ((sib & 7) == 5 && mod == 0) {
                addr = imm(4);
            } else {
                addr = r[base];
            }
            if (idx != 4) {
                addr += r[idx] << scale;
            }
        } else if (rm == 5 && mod == 0) {
            long disp = imm(4);
            addr = code64 ? ip + immBytes + disp : disp;
        } else {
            addr = r[rm | (rexB << 3)];
        }
        if (mod == 1) {
            addr += imm(1);
        } else if (mod == 2) {
            addr += imm(4);
        }
        if (adsize == 4) {
            addr &= 0xffffffffL;
        }
        ea = addr + segBase();
    }

    long segBase() {
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
