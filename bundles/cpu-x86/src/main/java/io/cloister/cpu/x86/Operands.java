package io.cloister.cpu.x86;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The interpreter's instruction fetch and operands: the prefixes' state and the operand fields of
 * the instruction {@link Decoder} decoded, its effective address with the segment base, register
 * or memory operands.
 */
abstract class Operands extends Alu {
    // The instruction being run: its prefixes, opcode, ModRM and immediates are in dec (the Decoder);
    // ip is its end once decoded (the next instruction, and RIP-relative addressing's base).
    long ip;
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

    /** The decoder fed by the instruction fetch (the interpreter's {@link Interpreter#step}). */
    final Fetcher fetcher = new Fetcher();
    /**
     * The decoded instruction being run: the fetcher's, or one the decoded path cached
     * ({@link Insn#shape}); the families read its prefixes, ModRM fields and immediates.
     */
    Decoder dec = fetcher;

    /** Guest memory is little-endian whatever the host is. */
    static final ValueLayout.OfLong CODE_WORD = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * The decoder's byte source: 16 bytes read at once from the code page the fetch last translated
     * when the instruction cannot leave it, else one byte at a time through {@link #fetch8} (a new
     * page, the end of a page, ROM, MMIO: exact faults and device accesses). The window keeps the
     * interpreter as fast as when it fetched while executing.
     */
    final class Fetcher extends Decoder {
        private long start;

        /** Decodes the instruction at {@link #ip}; ip ends past it. */
        void fetchAndDecode() {
            start = ip;
            long lin = code64 ? ip : (ip + sbase[SEG_CS]) & 0xffffffffL;
            int off = (int) (lin & 0xfff);
            if ((lin & ~0xfffL) == codeLin && off <= 4096 - 16) {
                long pa = codePhys | off;
                window(ram.get(CODE_WORD, pa), ram.get(CODE_WORD, pa + 8));
            } else {
                noWindow();
            }
            decode(code64, code16);
            ip = start + len;
        }

        @Override
        int u8(int k) {
            ip = start + k;
            return fetch8();
        }

        @Override
        RuntimeException tooLong() {
            return fault(VEC_GP, 0);
        }
    }

    /** The immediate, sign-extended from its size. */
    long imm() {
        return dec.simm();
    }

    /** The immediate as it was encoded, zero-extended. */
    long immU() {
        return dec.imm;
    }

    /**
     * The operand the decoded ModRM names: {@link #modReg}, and the register {@link #modRm} or the
     * address {@link #ea} (with the segment base; RIP-relative to {@link #ip}, the instruction's end).
     */
    void modrm() {
        Decoder dec = this.dec;
        modReg = dec.reg;
        if (dec.modIsReg) {
            modIsReg = true;
            modRm = dec.rm;
            return;
        }
        modIsReg = false;
        long addr = offset(r, dec.base, dec.index, dec.scale, dec.disp, dec.ripRelative, ip, dec.addressMask());
        long base = legacy ? legacyBase(dec.stack ? SEG_SS : SEG_DS, addr) : segBase();
        eaBase = base;
        ea = addr + base;
    }

    /**
     * The addressing rule of every path (the interpreter here, the decoded path's {@link Insn#ea},
     * compiled blocks with every argument but the registers constant): base, or the next
     * instruction's address for a RIP-relative operand, plus the displacement, plus index shifted
     * by scale, wrapped to the address size by its mask ({@link Decoder#addressMask}); no segment.
     * Methods of at most 35 bytes of bytecode, which C2 inlines at any call site it does not deem
     * cold and folds where the arguments are constant; few bytecodes in all, as a compiled block's
     * inlining budget counts them (C2 stops inlining into a method past 8,000).
     */
    static long offset(long[] r, int base, int index, int scale, long disp, boolean ripRelative, long next, long addressMask) {
        return base(r, base, ripRelative, next) + disp + index(r, index, scale) & addressMask;
    }

    private static long base(long[] r, int base, boolean ripRelative, long next) {
        return base >= 0 ? r[base] : ripRelative ? next : 0;
    }

    private static long index(long[] r, int index, int scale) {
        return index >= 0 ? r[index] << scale : 0;
    }

    /**
     * The base of the segment an operand at {@code offset} goes through in legacy mode: the
     * override prefix's, else {@code dflt}; an offset past the segment's limit is #GP(0), #SS(0)
     * for the stack segment (the limit is checked for the operand's first byte).
     */
    long legacyBase(int dflt, long offset) {
        int s = dec.sego >= 0 ? dec.sego : dflt;
        if (offset > slimit[s]) {
            throw fault(s == SEG_SS ? 12 : VEC_GP, 0);
        }
        return s < 4 ? sbase[s] : s == 4 ? fsBase : gsBase;
    }

    long segBase() {
        if (legacy) {
            int s = dec.sego >= 0 ? dec.sego : SEG_DS;
            return s < 4 ? sbase[s] : s == 4 ? fsBase : gsBase;
        }
        return segBase(dec.seg);
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
        return code64 ? (dec.opsize == 2 ? 2 : 8) : dec.opsize;
    }

    /** The base 64-bit mode adds for segment {@code s} ({@code SEG_FS}, {@code SEG_GS}; else {@code SEG_NONE}, 0). */
    long segBase(int s) {
        return s == SEG_FS ? fsBase : s == SEG_GS ? gsBase : 0;
    }

    /** The address size as a mask: the count register's width for LOOP and JrCXZ. */
    long addressMask() {
        return dec.addressMask();
    }

    Operands(Wiring w) {
        super(w);
    }
}
