package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Flags.DF;
import static io.cloister.cpu.x86.Flags.ZF;

import io.cloister.api.cpu.Exit;

/** The string instructions, with their REP prefixes. */
abstract class Strings extends Syscalls {
    /** MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS, with REP/REPE/REPNE on the count register. */
    void strings(int op, int size) {
        long step = (rflags & DF) != 0 ? -size : size;
        long am = addressMask();
        long esBase = legacy ? sbase[SEG_ES] : 0; // the destination is always ES:rDI
        boolean repeat = dec.rep != 0;
        boolean compare = op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf;
        if (op >= 0x6c && op <= 0x6f) {
            ioCheck((int) (r[RDX] & 0xffff), size);
        }
        while (true) {
            if (repeat && (r[RCX] & am) == 0) {
                return;
            }
            long si0 = r[RSI];
            long di0 = r[RDI];
            long si = (si0 & am) + segBase();
            long di = (di0 & am) + esBase;
            switch (op) {
                case 0xa4, 0xa5 -> {
                    wr(di, size, rd(si, size));
                    r[RSI] += step;
                    r[RDI] += step;
                }
                case 0xa6, 0xa7 -> {
                    alu(7, rd(si, size), rd(di, size), size);
                    r[RSI] += step;
                    r[RDI] += step;
                }
                case 0xaa, 0xab -> {
                    wr(di, size, r[RAX]);
                    r[RDI] += step;
                }
                case 0xac, 0xad -> {
                    setReg(RAX, size, rd(si, size));
                    r[RSI] += step;
                }
                case 0x6c, 0x6d -> { // ins: the port's answer replays when the instruction runs again
                    wr(di, size, portRead((int) (r[RDX] & 0xffff), size));
                    r[RDI] += step;
                }
                case 0x6e, 0x6f -> { // outs: the exit is taken after the iteration
                    report(new Exit.Io((int) (r[RDX] & 0xffff), size, true, rd(si, size)));
                    r[RSI] += step;
                }
                default -> {
                    alu(7, getReg(RAX, size), rd(di, size), size);
                    r[RDI] += step;
                }
            }
            if (dec.adsize == 4) {
                r[RSI] &= 0xffffffffL;
                r[RDI] &= 0xffffffffL;
            } else if (dec.adsize == 2) { // SI and DI wrap; the upper halves stay
                r[RSI] = (si0 & ~0xffffL) | (r[RSI] & 0xffff);
                r[RDI] = (di0 & ~0xffffL) | (r[RDI] & 0xffff);
            }
            if (!repeat) {
                return;
            }
            // An iteration is done: a rerun of the instruction (the next iteration needs an answer)
            // starts at the next one, so the answers so far must not be replayed to it.
            accesses.clear();
            r[RCX] = dec.adsize == 4 ? (r[RCX] - 1) & 0xffffffffL : dec.adsize == 2 ? (r[RCX] & ~0xffffL) | ((r[RCX] - 1) & 0xffff) : r[RCX] - 1;
            if (compare && ((dec.rep == 0xf3) != ((rflags & ZF) != 0))) {
                return; // REPE stops on ZF=0, REPNE on ZF=1
            }
            // Let exits and faults be taken between iterations: the instruction restarts with the updated count.
            if (pendingExit != null) {
                if ((r[RCX] & am) != 0) {
                    ip = rip;
                }
                return;
            }
        }
    }

    Strings(Wiring w) {
        super(w);
    }
}
