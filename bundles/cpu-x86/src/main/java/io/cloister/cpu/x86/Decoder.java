package io.cloister.cpu.x86;

/**
 * The one decoder of an instruction's shape, for every form and every path: the prefixes (operand
 * and address size, REX, REP/REPNE, LOCK, segment), the opcode map (one-byte, 0F, 0F38, 0F3A),
 * ModRM, SIB and displacement in 16-, 32- and 64-bit addressing, and the immediates; so its
 * length. It knows no semantics: the interpreter executes what it decoded ({@link Interpreter}),
 * and the decoded path builds its {@link Insn} from it.
 *
 * Bytes come from a window of 16 read at once where the instruction lies in one page of RAM, else
 * one at a time through {@link #u8}: for the interpreter the vCPU's instruction fetch (exact #PF
 * on the second page, ROM and MMIO through the access log), for the decoded path its page of RAM.
 * The whole instruction is fetched before any of it runs, as on hardware: a fetch fault is never
 * preceded by a data access of the same instruction. An instruction that would take more than 15
 * bytes ends in {@link #tooLong} (#GP(0)) before the 16th byte is fetched.
 */
abstract class Decoder {
    static final int MAP_ONE = 0, MAP_0F = 1, MAP_0F38 = 2, MAP_0F3A = 3;
    static final int MAX_LENGTH = 15;

    // Prefixes
    int opsize;
    int adsize;
    /** A 66 prefix was seen (SSE's mandatory prefix, kept apart from the operand size that REX.W overrides). */
    boolean p66;
    /** F2 or F3 (the last one), else 0. */
    int rep;
    boolean lock;
    /** The segment override (ES, CS, SS, DS, FS, GS as 0..5), or -1. */
    int sego;
    /** FS or GS as the vCPU names them ({@code SEG_FS}, {@code SEG_GS}), else {@code SEG_NONE}. */
    int seg;
    /** A REX byte right before the opcode (a REX followed by another prefix is ignored, as on hardware). */
    boolean rexPresent;
    int rexW;
    int rexR;
    int rexX;
    int rexB;

    // Opcode
    int map;
    int op;
    /** No instruction has this opcode (in this mode) as far as the engine knows: #UD when run. */
    boolean undefined;
    /** Bytes the instruction takes. */
    int len;

    // ModRM, SIB, displacement
    /** The ModRM byte itself (the x87 and 0F 01 read register forms from it), -1 without one. */
    int modrm;
    /** The operand is a register ({@link #rm}); else memory at base + index << scale + disp. */
    boolean modIsReg;
    /** ModRM.reg with REX.R. */
    int reg;
    /** ModRM.rm with REX.B, for a register operand. */
    int rm;
    int base;
    int index;
    int scale;
    long disp;
    /** The address is relative to the end of the instruction (64-bit mode, ModRM 00 xxx 101). */
    boolean ripRelative;
    /** Based on rSP or rBP: SS is the default segment outside 64-bit mode. */
    boolean stack;

    // Immediates, little-endian, zero-extended from immSize bytes
    long imm;
    int immSize;
    /** The second immediate: ENTER's nesting level, a far pointer's selector. */
    long imm2;

    private int n;
    // The window: the instruction's first bytes, read at once (little-endian in lo, hi), lim of them.
    private long lo;
    private long hi;
    private int lim;

    /** Byte {@code k} of the instruction, fetched on its own; may fault or unwind as the instruction fetch does. */
    abstract int u8(int k);

    /** What to throw when the instruction would exceed 15 bytes. */
    abstract RuntimeException tooLong();

    /** The next {@link #decode} takes its bytes from these 15 (the rest of a page of RAM): none is fetched on its own. */
    final void window(long lo, long hi) {
        this.lo = lo;
        this.hi = hi;
        lim = MAX_LENGTH;
    }

    /** The next {@link #decode} fetches each byte through {@link #u8}. */
    final void noWindow() {
        lim = 0;
    }

    private int next() {
        int k = n;
        if (k < lim) {
            n = k + 1;
            return (int) ((k < 8 ? lo >>> (k << 3) : hi >>> ((k - 8) << 3)) & 0xff);
        }
        if (k == MAX_LENGTH) {
            throw tooLong();
        }
        n = k + 1;
        return u8(k);
    }

    private long bytes(int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (long) next() << (8 * i);
        }
        return v;
    }

    /** The address size as a mask: offsets wrap at it (and the count register of LOOP, JrCXZ, string forms). */
    final long addressMask() {
        return adsize == 8 ? -1L : adsize == 4 ? 0xffffffffL : 0xffffL;
    }

    /** The immediate, sign-extended from its size. */
    final long simm() {
        return Flags.sext(imm, immSize);
    }

    /** Decodes one instruction in the given code mode (16-bit code: {@code code16} without {@code code64}). */
    final void decode(boolean code64, boolean code16) {
        n = 0;
        opsize = code16 ? 2 : 4;
        adsize = code64 ? 8 : code16 ? 2 : 4;
        p66 = false;
        rep = 0;
        lock = false;
        sego = -1;
        seg = X86Vcpu.SEG_NONE;
        rexPresent = false;
        rexW = rexR = rexX = rexB = 0;
        int b;
        prefixes:
        while (true) {
            b = next();
            switch (b) {
                case 0x66 -> {
                    opsize = code16 ? 4 : 2; // 16-bit code: 0x66 selects 32 bits
                    p66 = true;
                }
                case 0x67 -> adsize = code64 || code16 ? 4 : 2;
                case 0xf2, 0xf3 -> rep = b;
                case 0xf0 -> lock = true;
                case 0x26, 0x2e, 0x36, 0x3e -> sego = (b >>> 3) & 3; // ES, CS, SS, DS: bases only outside 64-bit mode
                case 0x64 -> {
                    seg = X86Vcpu.SEG_FS;
                    sego = 4;
                }
                case 0x65 -> {
                    seg = X86Vcpu.SEG_GS;
                    sego = 5;
                }
                default -> {
                    if (code64 && (b & 0xf0) == 0x40) {
                        rexPresent = true; // a later REX replaces an earlier one
                        rexW = (b >>> 3) & 1;
                        rexR = (b >>> 2) & 1;
                        rexX = (b >>> 1) & 1;
                        rexB = b & 1;
                        continue;
                    }
                    break prefixes;
                }
            }
            if (rexPresent) { // a REX not right before the opcode is ignored
                rexPresent = false;
                rexW = rexR = rexX = rexB = 0;
            }
        }
        if (rexW == 1) {
            opsize = 8;
        }
        map = MAP_ONE;
        if (b == 0x0f) {
            b = next();
            map = MAP_0F;
            if (b == 0x38 || b == 0x3a) {
                map = b == 0x38 ? MAP_0F38 : MAP_0F3A;
                b = next();
            }
        }
        op = b;
        if (p66 && code64 && rexW == 0 && nearBranch(map, b)) {
            opsize = 8; // f64: Intel ignores 0x66 on a near branch in 64-bit mode (see nearBranch)
        }
        undefined = false;
        modrm = -1; // the ModRM fields and the immediates are set only for the forms that have them
        switch (map) {
            case MAP_ONE -> oneByte(code64, code16);
            case MAP_0F -> twoByte(code64, code16);
            case MAP_0F38 -> modrm(code64, false);
            default -> {
                modrm(code64, false);
                imm(1);
            }
        }
        len = n;
    }

    /**
     * The near branches whose operand size is "f64" in 64-bit mode (SDM vol. 2, appendix A.2.5:
     * "forced to a 64-bit operand size when in 64-bit mode (prefixes that change operand size are
     * ignored for this instruction in 64-bit mode)"): Jcc, JMP and CALL rel, LOOPcc, JrCXZ, near
     * RET; FF /2 and /4 are set after their ModRM. That is Intel's reading, the vendor CPUID
     * advertises; AMD honours 0x66 there (a 16-bit RIP). Outside 64-bit mode 0x66 gives these a
     * 16-bit operand size on both: rel16, a 16-bit return address, IP truncated to 16 bits.
     */
    private static boolean nearBranch(int map, int op) {
        return map == MAP_ONE ? op >= 0x70 && op <= 0x7f || op >= 0xe0 && op <= 0xe3 || op == 0xc2 || op == 0xc3 || op == 0xe8
                || op == 0xe9 || op == 0xeb : map == MAP_0F && op >= 0x80 && op <= 0x8f;
    }

    // The one-byte map's shapes (SDM vol. 2, table A-2), one byte per opcode: ModRM, the immediate's
    // kind, #UD in 64-bit mode, or a form decoded on its own (SPECIAL). A table, not a chain of range
    // tests and a switch: the interpreter decodes every instruction it runs.
    private static final int M = 1, I8 = 1 << 1, IZ = 2 << 1, IV = 3 << 1, I16 = 4 << 1, MOFFS = 5 << 1, IMM = 7 << 1, U64 = 1 << 4,
            SPECIAL = 1 << 5;
    private static final byte[] ONE_BYTE = oneByteShapes();

    private static byte[] oneByteShapes() {
        int[] t = new int[256];
        for (int o = 0; o < 0x40; o++) {
            t[o] = switch (o & 7) {
                case 0, 1, 2, 3 -> M;
                case 4 -> I8;
                case 5 -> IZ;
                default -> U64; // push/pop es, cs, ss, ds, daa, das, aaa, aas (0x0f never gets here)
            };
        }
        for (int o = 0x70; o <= 0x7f; o++) {
            t[o] = I8; // jcc rel8
        }
        for (int o = 0xb0; o <= 0xb7; o++) {
            t[o] = I8; // mov r8, imm8
        }
        for (int o = 0xe0; o <= 0xe7; o++) {
            t[o] = I8; // loop/jrcxz rel8, in/out imm8
        }
        for (int o = 0xb8; o <= 0xbf; o++) {
            t[o] = IV; // mov r, imm of the operand size (8 bytes with REX.W)
        }
        for (int o = 0x84; o <= 0x8e; o++) {
            t[o] = M;
        }
        for (int o = 0xd0; o <= 0xd3; o++) {
            t[o] = M;
        }
        for (int o = 0xd8; o <= 0xdf; o++) {
            t[o] = M;
        }
        t[0x63] = M;
        t[0xfe] = M;
        t[0x68] = IZ;
        t[0x6a] = I8;
        t[0xa8] = I8;
        t[0xcd] = I8;
        t[0xeb] = I8;
        t[0x69] = M | IZ;
        t[0xc7] = M | IZ;
        t[0x81] = M | IZ;
        for (int o : new int[] {0x6b, 0x80, 0x83, 0xc0, 0xc1, 0xc6}) {
            t[o] = M | I8;
        }
        t[0x82] = M | I8 | U64;
        t[0xa0] = t[0xa1] = t[0xa2] = t[0xa3] = MOFFS;
        t[0xa9] = IZ;
        t[0xc2] = t[0xca] = I16;
        t[0xd4] = t[0xd5] = I8 | U64; // aam, aad
        t[0xe8] = t[0xe9] = IZ; // rel16 with a 16-bit operand size (never in 64-bit mode: f64)
        t[0x60] = t[0x61] = t[0xce] = t[0xd6] = U64; // pusha, popa, into, salc
        for (int o : new int[] {0x62, 0xc4, 0xc5, 0x8f, 0xff, 0x9a, 0xea, 0xc8, 0xf6, 0xf7}) {
            t[o] = SPECIAL;
        }
        byte[] b = new byte[256];
        for (int o = 0; o < 256; o++) {
            b[o] = (byte) t[o];
        }
        return b;
    }

    /** The one-byte map: which opcodes have ModRM and which immediates (the table above; no operand bytes where it is 0). */
    private void oneByte(boolean code64, boolean code16) {
        int s = ONE_BYTE[op];
        if (s == 0) {
            return;
        }
        if ((s & SPECIAL) != 0) {
            oneByteSpecial(code64);
            return;
        }
        if ((s & M) != 0) {
            modrm(code64, false);
        }
        switch (s & IMM) {
            case I8 -> imm(1);
            case IZ -> imm(opsize == 2 ? 2 : 4);
            case IV -> imm(opsize);
            case I16 -> imm(2);
            case MOFFS -> imm(adsize);
            default -> { }
        }
        if ((s & U64) != 0 && code64) {
            undefined = true;
        }
    }

    /** The one-byte forms whose operand bytes depend on more than the opcode. */
    private void oneByteSpecial(boolean code64) {
        int o = op;
        switch (o) {
            case 0x62, 0xc4, 0xc5 -> { // BOUND, LES, LDS (not run by the engine); EVEX, VEX in 64-bit mode or with mod 11
                if (!code64) {
                    modrm(false, false);
                }
                undefined = true;
            }
            case 0x8f -> { // POP r/m; /1-/7 are AMD's XOP prefix, not offered
                modrm(code64, false);
                undefined = (reg & 7) != 0;
            }
            case 0xff -> {
                modrm(code64, false);
                if (p66 && code64 && rexW == 0 && ((reg & 7) == 2 || (reg & 7) == 4)) {
                    opsize = 8; // near CALL and JMP r/m: f64, as the relative forms (see nearBranch)
                }
            }
            case 0x9a, 0xea -> { // far pointer: offset, then selector
                if (code64) {
                    undefined = true;
                } else {
                    imm(opsize == 2 ? 2 : 4);
                    imm2 = bytes(2);
                }
            }
            case 0xc8 -> { // enter: frame size, nesting level
                imm(2);
                imm2 = bytes(1);
            }
            default -> { // f6, f7
                modrm(code64, false);
                if ((reg & 7) <= 1) { // TEST r/m, imm (and its alias /1)
                    imm(o == 0xf6 ? 1 : opsize == 2 ? 2 : 4);
                }
            }
        }
    }

    /** The 0F map (SDM vol. 2, tables ). */
    private void twoByte(boolean code64, boolean code16) {
        int o = op;
        if (o >= 0x80 && o <= 0x8f) {
            imm(opsize == 2 ? 2 : 4); // jcc rel16 with a 16-bit operand size (never in 64-bit mode: f64)
            return;
        }
        switch (o) {
            case 0x04, 0x0a, 0x0c, 0x0e, 0x0f, 0x24, 0x25, 0x26, 0x27, 0x36, 0x39, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x78, 0x79, 0x7a, 0x7b, 0xa6, 0xa7 ->
                undefined = true;
            case 0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x37, 0x77, 0xa0, 0xa1, 0xa2, 0xa8, 0xa9, 0xaa,
                    0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf -> { }
            case 0x20, 0x21, 0x22, 0x23 -> modrm(code64, true); // MOV to/from CR, DR: a register operand whatever mod says
            case 0x70, 0x71, 0x72, 0x73, 0xa4, 0xac, 0xba, 0xc2, 0xc4, 0xc5, 0xc6 -> {
                modrm(code64, false);
                imm(1);
            }
            default -> modrm(code64, false);
        }
    }

    private void imm(int size) {
        imm = bytes(size);
        immSize = size;
    }

    /** ModRM, SIB and displacement; {@code alwaysReg}: the ModRM names registers whatever its mod. */
    private void modrm(boolean code64, boolean alwaysReg) {
        int m = next();
        modrm = m;
        int mod = m >>> 6;
        reg = ((m >>> 3) & 7) | (rexR << 3);
        int r = m & 7;
        if (mod == 3 || alwaysReg) {
            modIsReg = true;
            rm = r | (rexB << 3);
            return;
        }
        modIsReg = false;
        rm = base = index = -1;
        scale = 0;
        disp = 0;
        ripRelative = false;
        stack = false;
        if (adsize == 2) {
            modrm16(mod, r);
            return;
        }
        if (r == 4) {
            int sib = next();
            scale = sib >>> 6;
            int idx = ((sib >>> 3) & 7) | (rexX << 3);
            int b = sib & 7;
            if (b == 5 && mod == 0) {
                disp = Flags.sext(bytes(4), 4);
            } else {
                base = b | (rexB << 3);
                stack = b == X86Vcpu.RSP || b == X86Vcpu.RBP;
            }
            if (idx != 4) {
                index = idx;
            }
        } else if (r == 5 && mod == 0) {
            disp = Flags.sext(bytes(4), 4);
            ripRelative = code64;
        } else {
            base = r | (rexB << 3);
            stack = r == X86Vcpu.RBP;
        }
        if (mod == 1) {
            disp += (byte) next();
        } else if (mod == 2) {
            disp += Flags.sext(bytes(4), 4);
        }
    }

    /**
     * 16-bit addressing (SDM vol. 2, table 2-1): BX or BP plus SI or DI, SI, DI, BP, BX or disp16,
     * with an 8- or 16-bit displacement; the offset wraps at 64 KiB. BP-based forms use SS.
     */
    private void modrm16(int mod, int r) {
        switch (r) {
            case 0, 1 -> {
                base = X86Vcpu.RBX;
                index = r == 0 ? X86Vcpu.RSI : X86Vcpu.RDI;
            }
            case 2, 3 -> {
                base = X86Vcpu.RBP;
                index = r == 2 ? X86Vcpu.RSI : X86Vcpu.RDI;
                stack = true;
            }
            case 4 -> base = X86Vcpu.RSI;
            case 5 -> base = X86Vcpu.RDI;
            case 6 -> {
                if (mod == 0) {
                    disp = bytes(2);
                } else {
                    base = X86Vcpu.RBP;
                    stack = true;
                }
            }
            default -> base = X86Vcpu.RBX;
        }
        if (mod == 1) {
            disp += (byte) next();
        } else if (mod == 2) {
            disp += bytes(2);
        }
    }
}
