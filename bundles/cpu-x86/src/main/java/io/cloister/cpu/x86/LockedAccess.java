package io.cloister.cpu.x86;

import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * Locked read-modify-writes (the LOCK prefix, XCHG, XADD, CMPXCHG with a memory operand): the
 * operand read atomically and written back by compare-and-set, on top of {@link Memory}'s
 * translation and RAM access.
 */
abstract class LockedAccess extends Memory {
    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();

    /** LOCK prefix, XCHG, XADD, CMPXCHG with a memory operand: its read-modify-write is atomic. */
    boolean atomic;
    long lockedPa = -1;
    private int lockedSize;
    private long lockedOld;

    /**
     * Reads the operand of a locked instruction. An aligned RAM operand is read atomically and
     * written back by compare-and-set (so other vCPUs' plain stores are never lost); MMIO and split
     * (unaligned) operands take the plain path, as no other vCPU can see them change mid-way here.
     */
    long lockedRead(long la, int size) {
        if ((la & (size - 1)) != 0) {
            return rd(la, size);
        }
        long pa = translate(la, WRITE); // a locked access needs write permission, also when it fails
        if (pa < 0 || pa + size > ramSize) {
            return physRead(pa, size);
        }
        long v = switch (size) {
            case 8 -> (long) LONG.getVolatile(ram, pa);
            case 4 -> (int) INT.getVolatile(ram, pa) & 0xffffffffL;
            default -> ((int) INT.getVolatile(ram, pa & ~3L) >>> (8 * (pa & 3))) & Flags.mask(size);
        };
        lockedPa = pa;
        lockedSize = size;
        lockedOld = v;
        return v;
    }

    void lockedWrite(long v) {
        long pa = lockedPa;
        int size = lockedSize;
        boolean done = switch (size) {
            case 8 -> LONG.compareAndSet(ram, pa, lockedOld, v);
            case 4 -> INT.compareAndSet(ram, pa, (int) lockedOld, (int) v);
            default -> {
                long base = pa & ~3L;
                int shift = (int) (8 * (pa & 3));
                int m = (int) Flags.mask(size) << shift;
                while (true) {
                    int cur = (int) INT.getVolatile(ram, base);
                    if ((cur & m) != ((int) lockedOld << shift & m)) {
                        yield false;
                    }
                    if (INT.compareAndSet(ram, base, cur, (cur & ~m) | ((int) v << shift & m))) {
                        yield true; // bytes beside ours may change meanwhile; only ours must not
                    }
                }
            }
        };
        lockedPa = -1;
        if (!done) {
            throw restart;
        }
        codeWritten(pa, size);
    }

    LockedAccess(Wiring w) {
        super(w);
    }
}
