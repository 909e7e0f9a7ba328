package io.cloister.cpu.x86;

/**
 * The x87 (D8-DF): control instructions (FNINIT, FNCLEX, FLDCW/FNSTCW, FNSTSW, FNSTENV/FLDENV,
 * FNSAVE/FRSTOR) and, in {@link X87Arith}, loads, stores and arithmetic on exact 80-bit values.
 */
abstract class X87Insns extends FpuInsns {
    /** One x87 instruction: {@code op} is D8-DF, the ModRM byte follows. */
    void x87(int op) {
        int b = dec.modrm;
        int which = (b >>> 3) & 7;
        boolean mem = (b >>> 6) != 3;
        boolean control = mem ? op == 0xd9 && which >= 4 || op == 0xdd && (which == 4 || which == 6 || which == 7)
                : op == 0xdb && (b == 0xe2 || b == 0xe3) || op == 0xdf && b == 0xe0;
        // The non-waiting forms (FN*) skip the pending-exception check; so does FLDCW/FLDENV/FRSTOR's load of new state.
        x87Check(!control);
        modrm();
        if (control) {
            control(op, b, which, mem);
            return;
        }
        x87Arith(op, b, which, mem);
    }

    /** Loads, stores and arithmetic ({@link X87Arith}). */
    abstract void x87Arith(int op, int b, int which, boolean mem);

    private void control(int op, int b, int which, boolean mem) {
        if (!mem) {
            switch (b) {
                case 0xe2 -> fpu.fsw &= 0x7f00; // FNCLEX: exception flags, SF, ES and B
                case 0xe3 -> fpu.init(); // FNINIT
                default -> setReg(RAX, 2, fpu.status()); // DF E0: FNSTSW AX
            }
            return;
        }
        switch (op << 3 | which) {
            case 0xd9 << 3 | 4 -> loadEnv(ea);
            case 0xd9 << 3 | 5 -> { // FLDCW: bit 6 reads as one; unmasking a raised exception makes it pending
                fpu.fcw = (int) rd(ea, 2) & 0x1f7f | 0x40;
                updateSummary();
            }
            case 0xd9 << 3 | 6 -> {
                storeEnv(ea);
                fpu.fcw |= 0x3f; // FNSTENV masks every exception afterwards
            }
            case 0xd9 << 3 | 7 -> wr(ea, 2, fpu.fcw);
            case 0xdd << 3 | 4 -> { // FRSTOR
                int env = dec.opsize == 2 ? 14 : 28;
                long[] regs = new long[16];
                for (int i = 0; i < 8; i++) {
                    regs[2 * i] = rd(ea + env + 10L * i, 8);
                    regs[2 * i + 1] = rd(ea + env + 10L * i + 8, 2);
                }
                loadEnv(ea);
                for (int i = 0; i < 8; i++) {
                    int p = fpu.phys(i);
                    fpu.st[p] = regs[2 * i];
                    fpu.se[p] = (int) regs[2 * i + 1];
                }
            }
            case 0xdd << 3 | 6 -> { // FNSAVE, then FNINIT
                int env = dec.opsize == 2 ? 14 : 28;
                translate(ea, WRITE);
                translate(ea + env + 79, WRITE);
                storeEnv(ea);
                for (int i = 0; i < 8; i++) {
                    int p = fpu.phys(i);
                    wr(ea + env + 10L * i, 8, fpu.st[p]);
                    wr(ea + env + 10L * i + 8, 2, fpu.se[p]);
                }
                fpu.init();
            }
            default -> wr(ea, 2, fpu.status()); // DD /7: FNSTSW m16
        }
    }

    /**
     * The protected-mode environment: 28 bytes (FCW, FSW, FTW, FIP, FCS/FOP, FDP, FDS in 32-bit
     * slots, the reserved halves written as ones), or 14 with a 16-bit operand size. This CPU keeps
     * no last-instruction pointers: they read as zero.
     */
    private void storeEnv(long a) {
        int w = dec.opsize == 2 ? 2 : 4;
        long fill = dec.opsize == 2 ? 0 : 0xffff0000L;
        translate(a, WRITE);
        translate(a + 7 * w - 1, WRITE);
        wr(a, w, fill | fpu.fcw);
        wr(a + w, w, fill | fpu.status());
        wr(a + 2L * w, w, fill | fpu.fullTags());
        for (int i = 3; i < 6; i++) {
            wr(a + (long) i * w, w, 0);
        }
        wr(a + 6L * w, w, fill); // FDS: zero, its reserved half ones
    }

    private void loadEnv(long a) {
        int w = dec.opsize == 2 ? 2 : 4;
        int fcw = (int) rd(a, w);
        int fsw = (int) rd(a + w, w);
        int ftw = (int) rd(a + 2L * w, w);
        fpu.fcw = fcw & 0x1f7f | 0x40;
        fpu.setStatus(fsw);
        fpu.setFullTags(ftw);
        updateSummary();
    }

    /** FSW.ES and B follow the exception flags against the masks. */
    void updateSummary() {
        if ((fpu.fsw & ~fpu.fcw & 0x3f) != 0) {
            fpu.fsw |= 0x8080;
        } else {
            fpu.fsw &= ~0x8080;
        }
    }

    X87Insns(Wiring w) {
        super(w);
    }
}
