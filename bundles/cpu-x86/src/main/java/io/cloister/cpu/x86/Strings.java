package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Flags.DF;
import static io.cloister.cpu.x86.Flags.ZF;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

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
        boolean chunked = repeat && bulkStrings && (op == 0xa4 || op == 0xa5 || op == 0xaa || op == 0xab);
        while (true) {
            if (repeat && (r[RCX] & am) == 0) {
                return;
            }
            if (chunked) {
                long n = bulk(op <= 0xa5, size, am, esBase);
                if (n > 0) {
                    accesses.clear();
                    r[RCX] = advance(r[RCX], -n);
                    if (pendingExit != null) { // as after an element: nothing in a chunk reports one
                        if ((r[RCX] & am) != 0) {
                            ip = rip;
                        }
                        return;
                    }
                    continue;
                }
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
            // The registers the instruction steps wrap at the address size: the upper half of a 32-bit
            // one is cleared, of a 16-bit one kept. STOS, SCAS and INS leave rSI alone, LODS and OUTS rDI.
            if (dec.adsize == 4) {
                r[RSI] = r[RSI] == si0 ? si0 : r[RSI] & 0xffffffffL;
                r[RDI] = r[RDI] == di0 ? di0 : r[RDI] & 0xffffffffL;
            } else if (dec.adsize == 2) {
                r[RSI] = (si0 & ~0xffffL) | (r[RSI] & 0xffff);
                r[RDI] = (di0 & ~0xffffL) | (r[RDI] & 0xffff);
            }
            if (!repeat) {
                return;
            }
            // An iteration is done: a rerun of the instruction (the next iteration needs an answer)
            // starts at the next one, so the answers so far must not be replayed to it.
            accesses.clear();
            r[RCX] = advance(r[RCX], -1);
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

    /** False in tests that compare the chunked REP MOVS/STOS with the element loop it stands for. */
    boolean bulkStrings = true;

    /**
     * REP MOVS / REP STOS over RAM a chunk at a time, as the element loop would do it: the elements
     * from the current one that stay inside the current source and destination pages (and inside
     * rSI/rDI's address size, so none wraps), at most rCX of them. Returns how many were done, with
     * rSI/rDI moved past them; 0 when the next element must take the element loop (it crosses a
     * page or the address-size wrap, either side is not RAM, or the two overlap so that x86's
     * element-by-element copy differs from a memmove even for the first element).
     *
     * Both pages are translated before anything is written, the source first, at the current
     * element's address, as the element loop's first rd and wr would: a fault (#PF, #GP, a
     * memory-fault exit) leaves rCX, rSI, rDI and memory as the element loop leaves them, at the
     * elements completed. One code-map check covers the written range, dropping decoded code there
     * as a write of each element would.
     *
     * Ordering (x86 TSO): the fences around the chunk order it after the loads and stores before
     * the instruction and before those after it, as physRead/physWrite do per access. Within one
     * string instruction x86 itself does not order the element stores as seen by other processors
     * ("fast-string operation", SDM vol. 1, 7.3.9.3 and vol. 3, 9.2.4), so one bulk copy or fill
     * of the chunk is a valid execution of its elements.
     */
    private long bulk(boolean movs, int size, long am, long esBase) {
        boolean down = (rflags & DF) != 0;
        long count = r[RCX] & am;
        long di = r[RDI] & am;
        long si = r[RSI] & am;
        long n = room(di, esBase, am, size, down);
        if (movs) {
            n = Math.min(n, room(si, segBase(), am, size, down));
        }
        if (Long.compareUnsigned(count, n) < 0) {
            n = count;
        }
        if (n <= 0) {
            return 0;
        }
        long sPa = 0;
        if (movs) {
            sPa = translate(si + segBase(), READ);
            if (sPa < 0 || sPa + size > ramSize) {
                return 0; // the element loop reads the device before it translates the destination
            }
        }
        long dPa = translate(di + esBase, WRITE);
        if (movs) {
            // The chunk's element k reads what element j < k wrote when the destination starts
            // less than (k + 1) elements ahead of the source in the copy's direction; the elements
            // before the first such k are a memmove.
            long ahead = down ? sPa - dPa : dPa - sPa;
            if (ahead > 0 && ahead < n * size) {
                n = ahead / size;
                if (n == 0) {
                    return 0;
                }
            }
        }
        long bytes = n * size;
        long back = down ? bytes - size : 0; // from the current element down to the chunk's lowest byte
        long dLo = dPa - back;
        long sLo = sPa - back;
        if (!inRam(dLo, bytes) || (movs && !inRam(sLo, bytes))) {
            return 0;
        }
        VarHandle.releaseFence();
        if (movs) {
            MemorySegment.copy(ram, sLo, ram, dLo, bytes);
        } else {
            fill(dLo, bytes, size, r[RAX]);
        }
        VarHandle.acquireFence();
        codeWritten(dLo, (int) bytes);
        long delta = down ? -bytes : bytes;
        r[RDI] = advance(r[RDI], delta);
        if (movs) {
            r[RSI] = advance(r[RSI], delta);
        }
        return n;
    }

    private boolean inRam(long pa, long bytes) {
        return pa >= 0 && pa + bytes <= ramSize;
    }

    /** The elements from offset {@code off} (masked) that stay in its page and inside the address size. */
    private static long room(long off, long base, long am, int size, boolean down) {
        long inPage = (off + base) & 0xfff;
        if (inPage + size > 4096 || (am != -1L && off + size - 1 > am)) {
            return 0; // the current element crosses the page or the wrap
        }
        if (down) {
            long n = inPage / size + 1;
            return am == -1L ? n : Math.min(n, off / size + 1);
        }
        long n = (4096 - inPage) / size;
        return am == -1L ? n : Math.min(n, (am - off + 1) / size);
    }

    /** rCX, rSI or rDI moved by {@code delta}, within the address size (CX/SI/DI keep the bits above 16). */
    private long advance(long reg, long delta) {
        return dec.adsize == 8 ? reg + delta : dec.adsize == 4 ? (reg + delta) & 0xffffffffL : (reg & ~0xffffL) | ((reg + delta) & 0xffff);
    }

    /** STOS's elements of {@code size} bytes of {@code v} over [pa, pa + bytes) of RAM. */
    private void fill(long pa, long bytes, int size, long v) {
        long m = Flags.mask(size);
        if (size == 1 || (v & m) == ((v & 0xff) * 0x0101010101010101L & m)) {
            ram.asSlice(pa, bytes).fill((byte) v); // zeroing and other byte patterns
            return;
        }
        for (long a = pa; a < pa + bytes; a += size) {
            switch (size) {
                case 2 -> ram.set(ValueLayout.JAVA_SHORT_UNALIGNED, a, (short) v);
                case 4 -> ram.set(ValueLayout.JAVA_INT_UNALIGNED, a, (int) v);
                default -> ram.set(ValueLayout.JAVA_LONG_UNALIGNED, a, v);
            }
        }
    }

    Strings(Wiring w) {
        super(w);
    }
}
