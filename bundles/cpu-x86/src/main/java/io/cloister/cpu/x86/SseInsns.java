package io.cloister.cpu.x86;

/**
 * The SSE/SSE2 and MMX part of the 0F map: moves, the packed-integer instructions (on XMM with a
 * 66 prefix, on MMX without), shuffles and unpacks, and the dispatch to the floating-point forms
 * ({@link SseFloat}). The mandatory prefix (none, 66, F3, F2; F2/F3 win over 66) selects the form;
 * a prefix a form does not have is #UD, as are SSE3 and later forms (not advertised).
 */
abstract class SseInsns extends SseFloat {
    int mandatoryPrefix() {
        return dec.rep == 0xf3 ? PF3 : dec.rep == 0xf2 ? PF2 : dec.p66 ? P66 : NP;
    }

    /** 0F {@code op} for the forms twoByte() leaves: SSE, SSE2, MMX, the state group 0F AE, CLTS. */
    void sse(int op) {
        int pfx = mandatoryPrefix();
        switch (op) {
            case 0x06 -> clts();
            case 0xae -> group15();
            case 0x77 -> {
                if (pfx != NP) {
                    throw ud();
                }
                mmxCheck();
                fpu.tags = 0; // EMMS
            }
            case 0x10, 0x11, 0x12, 0x13, 0x16, 0x17, 0x28, 0x29, 0x2b, 0x50, 0xc3, 0xd6, 0xd7, 0xe7, 0xf7, 0x6e, 0x6f, 0x7e, 0x7f -> moves(op, pfx);
            case 0x14, 0x15, 0xc6 -> {
                if (pfx > P66) {
                    throw ud();
                }
                sseCheck();
                modrm();
                long[] s = src128(true);
                int d = 2 * modReg;
                long[] x = fpu.xmm;
                long lo = x[d];
                long hi = x[d + 1];
                if (op == 0xc6) {
                    int imm = (int) immU();
                    if (pfx == P66) { // SHUFPD
                        x[d] = (imm & 1) == 0 ? lo : hi;
                        x[d + 1] = (imm & 2) == 0 ? s[0] : s[1];
                    } else { // SHUFPS: two dwords of the destination, two of the source
                        long[] dw = {lo, hi};
                        x[d] = dword(dw, imm & 3) | dword(dw, (imm >>> 2) & 3) << 32;
                        x[d + 1] = dword(s, (imm >>> 4) & 3) | dword(s, (imm >>> 6) & 3) << 32;
                    }
                } else if (pfx == P66) { // UNPCKLPD, UNPCKHPD
                    x[d] = op == 0x14 ? lo : hi;
                    x[d + 1] = op == 0x14 ? s[0] : s[1];
                } else { // UNPCKLPS, UNPCKHPS
                    long a = op == 0x14 ? lo : hi;
                    long b = op == 0x14 ? s[0] : s[1];
                    x[d] = (a & 0xffffffffL) | b << 32;
                    x[d + 1] = (a >>> 32) | (b >>> 32) << 32;
                }
            }
            case 0x70 -> {
                boolean mmx = pfx == NP;
                beginInt(mmx);
                long[] s = intSource(mmx);
                int imm = (int) immU();
                long[] r;
                switch (pfx) {
                    case P66 -> { // PSHUFD
                        r = new long[2];
                        for (int i = 0; i < 4; i++) {
                            r[i / 2] |= dword(s, (imm >>> (2 * i)) & 3) << (32 * (i & 1));
                        }
                    }
                    case PF3 -> r = new long[] {s[0], PackedInt.shuffleWords(s[1], imm)}; // PSHUFHW
                    case PF2 -> r = new long[] {PackedInt.shuffleWords(s[0], imm), s[1]}; // PSHUFLW
                    default -> r = new long[] {PackedInt.shuffleWords(s[0], imm)}; // PSHUFW
                }
                intResult(mmx, r);
            }
            case 0x71, 0x72, 0x73 -> {
                boolean mmx = pfx == NP;
                if (pfx > P66) {
                    throw ud();
                }
                beginInt(mmx);
                int kind = modReg & 7;
                int count = (int) immU();
                if (!modIsReg || !(kind == 2 || kind == 6 || kind == 4 && op != 0x73 || (kind == 3 || kind == 7) && op == 0x73 && !mmx)) {
                    throw ud();
                }
                int reg = mmx ? modRm & 7 : modRm;
                long[] a = mmx ? new long[] {fpu.mm(reg)} : new long[] {fpu.xmm[2 * reg], fpu.xmm[2 * reg + 1]};
                long[] r = new long[a.length];
                if (kind == 3 || kind == 7) { // PSRLDQ, PSLLDQ: whole register, in bytes
                    byte[] b = PackedInt.bytes(a);
                    byte[] o = new byte[16];
                    int n = Math.min(count, 16);
                    if (kind == 3) {
                        System.arraycopy(b, n, o, 0, 16 - n);
                    } else {
                        System.arraycopy(b, 0, o, n, 16 - n);
                    }
                    r[0] = PackedInt.chunk(o, 0);
                    r[1] = PackedInt.chunk(o, 1);
                } else {
                    int bits = op == 0x71 ? 16 : op == 0x72 ? 32 : 64;
                    for (int i = 0; i < a.length; i++) {
                        r[i] = PackedInt.shift(kind, bits, a[i], count);
                    }
                }
                if (mmx) {
                    fpu.setMm(reg, r[0]);
                } else {
                    fpu.xmm[2 * reg] = r[0];
                    fpu.xmm[2 * reg + 1] = r[1];
                }
            }
            case 0xc4, 0xc5 -> { // PINSRW, PEXTRW
                boolean mmx = pfx == NP;
                if (pfx > P66) {
                    throw ud();
                }
                beginInt(mmx);
                int imm = (int) immU() & (mmx ? 3 : 7);
                int reg = mmx ? modReg & 7 : modReg;
                long[] a = mmx ? new long[] {fpu.mm(reg)} : new long[] {fpu.xmm[2 * reg], fpu.xmm[2 * reg + 1]};
                if (op == 0xc5) {
                    if (!modIsReg) {
                        throw ud();
                    }
                    int src = mmx ? modRm & 7 : modRm;
                    long v = mmx ? fpu.mm(src) : fpu.xmm[2 * src + imm / 4];
                    setReg(modReg, 4, (v >>> (16 * (imm & 3))) & 0xffff);
                    return;
                }
                long w = rm(2) & 0xffff;
                int c = imm / 4;
                a[c] = (a[c] & ~(0xffffL << (16 * (imm & 3)))) | w << (16 * (imm & 3));
                intResult(mmx, a);
            }
            default -> {
                if (op >= 0x60 && op <= 0x6d || op >= 0x74 && op <= 0x76 || op >= 0xd1 && op <= 0xfe && op != 0xe6) {
                    packedInt(op, pfx);
                } else if (!sseFloat(op, pfx)) {
                    throw ud();
                }
            }
        }
    }

    private static long dword(long[] v, int i) {
        return (v[i / 2] >>> (32 * (i & 1))) & 0xffffffffL;
    }

    /** An integer form: the checks, then its ModRM operand. */
    private void beginInt(boolean mmx) {
        if (mmx) {
            mmxCheck();
        } else {
            sseCheck();
        }
        modrm();
    }

    /** The source operand of an integer form: an MMX register or m64, or an XMM register or aligned m128. */
    private long[] intSource(boolean mmx) {
        if (mmx) {
            return new long[] {modIsReg ? fpu.mm(modRm & 7) : rd(ea, 8)};
        }
        return src128(true);
    }

    private long[] intDest(boolean mmx) {
        return mmx ? new long[] {fpu.mm(modReg & 7)} : new long[] {fpu.xmm[2 * modReg], fpu.xmm[2 * modReg + 1]};
    }

    private void intResult(boolean mmx, long[] r) {
        if (mmx) {
            fpu.setMm(modReg & 7, r[0]);
        } else {
            fpu.xmm[2 * modReg] = r[0];
            fpu.xmm[2 * modReg + 1] = r[1];
        }
    }

    /** The source of an XMM form: register, or m128 (#GP unless aligned where {@code aligned}). */
    long[] src128(boolean aligned) {
        long[] s = new long[2];
        if (modIsReg) {
            s[0] = fpu.xmm[2 * modRm];
            s[1] = fpu.xmm[2 * modRm + 1];
        } else {
            read16(ea, aligned, s);
        }
        return s;
    }

    /** 0F 60-6D and D1-FE: the packed-integer forms (66: XMM; none: MMX). */
    private void packedInt(int op, int pfx) {
        boolean mmx = pfx == NP;
        if (pfx > P66 || mmx && (op == 0x6c || op == 0x6d) || op == 0xd6 || op == 0xe6 || op == 0xf0) {
            throw ud();
        }
        beginInt(mmx);
        long[] b = intSource(mmx);
        long[] a = intDest(mmx);
        long[] r = new long[a.length];
        if (PackedInt.isLanes(op)) {
            for (int i = 0; i < a.length; i++) {
                r[i] = PackedInt.lanes(op, a[i], b[i]);
            }
        } else {
            switch (op) {
                case 0xd1, 0xd2, 0xd3, 0xe1, 0xe2, 0xf1, 0xf2, 0xf3 -> {
                    int kind = op >>> 4 == 0xd ? 2 : op >>> 4 == 0xe ? 4 : 6;
                    int bits = 8 << (op & 3);
                    for (int i = 0; i < a.length; i++) {
                        r[i] = PackedInt.shift(kind, bits, a[i], b[0]);
                    }
                }
                case 0x60, 0x61, 0x62, 0x68, 0x69, 0x6a, 0x6c, 0x6d -> {
                    int w = op >= 0x6c ? 8 : 1 << (op & 3);
                    boolean high = op >= 0x68 && op != 0x6c;
                    byte[] o = PackedInt.unpack(PackedInt.bytes(a), PackedInt.bytes(b), w, high);
                    for (int i = 0; i < r.length; i++) {
                        r[i] = PackedInt.chunk(o, i);
                    }
                }
                case 0x63, 0x67, 0x6b -> {
                    byte[] o = PackedInt.pack(op, PackedInt.bytes(a), PackedInt.bytes(b));
                    for (int i = 0; i < r.length; i++) {
                        r[i] = PackedInt.chunk(o, i);
                    }
                }
                default -> throw ud();
            }
        }
        intResult(mmx, r);
    }

    /** The move forms of 0F 10-17, 28/29/2B, 50, 6E/6F, 7E/7F, C3, D6, D7, E7, F7. */
    private void moves(int op, int pfx) {
        long[] x = fpu.xmm;
        switch (op) {
            case 0x6e, 0x7e, 0x6f, 0x7f, 0xd7, 0xe7, 0xf7 -> {
                if (pfx == NP) {
                    mmxMoves(op);
                    return;
                }
            }
            case 0xc3 -> { // MOVNTI
                if (pfx != NP) {
                    throw ud();
                }
                modrm();
                if (modIsReg) {
                    throw ud();
                }
                int s = dec.rexW == 1 ? 8 : 4;
                wr(ea, s, getReg(modReg, s));
                return;
            }
            default -> { }
        }
        sseCheck();
        modrm();
        int d = 2 * modReg;
        switch (op) {
            case 0x10 -> {
                switch (pfx) {
                    case PF3 -> { // MOVSS
                        long v = modIsReg ? x[2 * modRm] & 0xffffffffL : rd(ea, 4);
                        x[d] = modIsReg ? (x[d] & ~0xffffffffL) | v : v;
                        if (!modIsReg) {
                            x[d + 1] = 0;
                        }
                    }
                    case PF2 -> { // MOVSD
                        x[d] = modIsReg ? x[2 * modRm] : rd(ea, 8);
                        if (!modIsReg) {
                            x[d + 1] = 0;
                        }
                    }
                    default -> setXmm(d, src128(false)); // MOVUPS, MOVUPD
                }
            }
            case 0x11 -> {
                switch (pfx) {
                    case PF3 -> {
                        if (modIsReg) {
                            x[2 * modRm] = (x[2 * modRm] & ~0xffffffffL) | (x[d] & 0xffffffffL);
                        } else {
                            wr(ea, 4, x[d]);
                        }
                    }
                    case PF2 -> {
                        if (modIsReg) {
                            x[2 * modRm] = x[d];
                        } else {
                            wr(ea, 8, x[d]);
                        }
                    }
                    default -> store128(d, false);
                }
            }
            case 0x12, 0x13, 0x16, 0x17 -> {
                boolean high = op >= 0x16;
                if (pfx > P66 || modIsReg && ((op & 1) == 1 || pfx == P66)) {
                    throw ud(); // SSE3's MOVDDUP/MOVSLDUP/MOVSHDUP; register forms only without a prefix
                }
                if ((op & 1) == 1) { // MOVLPS/MOVLPD/MOVHPS/MOVHPD stores
                    wr(ea, 8, x[d + (high ? 1 : 0)]);
                } else if (modIsReg) { // MOVHLPS, MOVLHPS
                    if (high) {
                        x[d + 1] = x[2 * modRm];
                    } else {
                        x[d] = x[2 * modRm + 1];
                    }
                } else {
                    x[d + (high ? 1 : 0)] = rd(ea, 8);
                }
            }
            case 0x28, 0x29, 0x2b -> {
                if (pfx > P66 || op == 0x2b && modIsReg) {
                    throw ud();
                }
                if (op == 0x28) {
                    setXmm(d, src128(true));
                } else {
                    store128(d, true);
                }
            }
            case 0x50 -> { // MOVMSKPS, MOVMSKPD
                if (pfx > P66 || !modIsReg) {
                    throw ud();
                }
                long lo = x[2 * modRm];
                long hi = x[2 * modRm + 1];
                long m = pfx == P66 ? (lo >>> 63) | (hi >>> 63) << 1
                        : (lo >>> 31 & 1) | (lo >>> 63) << 1 | (hi >>> 31 & 1) << 2 | (hi >>> 63) << 3;
                setReg(modReg, 4, m);
            }
            case 0x6e -> { // MOVD/MOVQ xmm, r/m
                if (pfx != P66) {
                    throw ud();
                }
                int s = dec.rexW == 1 ? 8 : 4;
                x[d] = rm(s);
                x[d + 1] = 0;
            }
            case 0x7e -> {
                if (pfx == P66) { // MOVD/MOVQ r/m, xmm
                    int s = dec.rexW == 1 ? 8 : 4;
                    setRm(s, s == 8 ? x[d] : x[d] & 0xffffffffL);
                } else if (pfx == PF3) { // MOVQ xmm, xmm/m64
                    x[d] = modIsReg ? x[2 * modRm] : rd(ea, 8);
                    x[d + 1] = 0;
                } else {
                    throw ud();
                }
            }
            case 0x6f, 0x7f -> {
                if (pfx == PF2) {
                    throw ud();
                }
                if (op == 0x6f) {
                    setXmm(d, src128(pfx == P66)); // MOVDQA, MOVDQU
                } else {
                    store128(d, pfx == P66);
                }
            }
            case 0xd6 -> {
                if (pfx == P66) { // MOVQ xmm/m64, xmm
                    if (modIsReg) {
                        x[2 * modRm] = x[d];
                        x[2 * modRm + 1] = 0;
                    } else {
                        wr(ea, 8, x[d]);
                    }
                } else if (pfx == PF3 && modIsReg) { // MOVQ2DQ xmm, mm
                    mmxCheck();
                    x[d] = fpu.mm(modRm & 7);
                    x[d + 1] = 0;
                } else if (pfx == PF2 && modIsReg) { // MOVDQ2Q mm, xmm
                    mmxCheck();
                    fpu.setMm(modReg & 7, x[2 * modRm]);
                } else {
                    throw ud();
                }
            }
            case 0xd7 -> { // PMOVMSKB r32, xmm
                if (pfx != P66 || !modIsReg) {
                    throw ud();
                }
                setReg(modReg, 4, PackedInt.byteSigns(x[2 * modRm]) | PackedInt.byteSigns(x[2 * modRm + 1]) << 8);
            }
            case 0xe7 -> { // MOVNTDQ
                if (pfx != P66 || modIsReg) {
                    throw ud();
                }
                store128(d, true);
            }
            case 0xf7 -> { // MASKMOVDQU: bytes of xmm under the mask's top bits, to [rDI]
                if (pfx != P66 || !modIsReg) {
                    throw ud();
                }
                maskMove(PackedInt.bytes(x[d], x[d + 1]), PackedInt.bytes(x[2 * modRm], x[2 * modRm + 1]));
            }
            default -> throw ud();
        }
    }

    private void maskMove(byte[] data, byte[] mask) {
        long at = (r[RDI] & addressMask()) + segBase();
        for (int i = 0; i < data.length; i++) {
            if (mask[i] < 0) {
                translate(at + i, WRITE);
            }
        }
        for (int i = 0; i < data.length; i++) {
            if (mask[i] < 0) {
                wr(at + i, 1, data[i]);
            }
        }
    }

    /** MOVD/MOVQ, PMOVMSKB, MOVNTQ, MASKMOVQ on MMX registers. */
    private void mmxMoves(int op) {
        mmxCheck();
        modrm();
        int reg = modReg & 7;
        switch (op) {
            case 0x6e -> fpu.setMm(reg, rm(dec.rexW == 1 ? 8 : 4));
            case 0x7e -> {
                int s = dec.rexW == 1 ? 8 : 4;
                long v = fpu.mm(reg);
                setRm(s, s == 8 ? v : v & 0xffffffffL);
            }
            case 0x6f -> fpu.setMm(reg, modIsReg ? fpu.mm(modRm & 7) : rd(ea, 8));
            case 0x7f -> {
                if (modIsReg) {
                    fpu.setMm(modRm & 7, fpu.mm(reg));
                } else {
                    wr(ea, 8, fpu.mm(reg));
                }
            }
            case 0xd7 -> {
                if (!modIsReg) {
                    throw ud();
                }
                setReg(modReg, 4, PackedInt.byteSigns(fpu.mm(modRm & 7)));
            }
            case 0xe7 -> {
                if (modIsReg) {
                    throw ud();
                }
                wr(ea, 8, fpu.mm(reg));
            }
            default -> { // F7: MASKMOVQ
                if (!modIsReg) {
                    throw ud();
                }
                maskMove(PackedInt.bytes(fpu.mm(reg)), PackedInt.bytes(fpu.mm(modRm & 7)));
            }
        }
    }

    private void setXmm(int d, long[] v) {
        fpu.xmm[d] = v[0];
        fpu.xmm[d + 1] = v[1];
    }

    private void store128(int d, boolean aligned) {
        if (modIsReg) {
            fpu.xmm[2 * modRm] = fpu.xmm[d];
            fpu.xmm[2 * modRm + 1] = fpu.xmm[d + 1];
        } else {
            write16(ea, aligned, fpu.xmm[d], fpu.xmm[d + 1]);
        }
    }

    SseInsns(Wiring w) {
        super(w);
    }
}
