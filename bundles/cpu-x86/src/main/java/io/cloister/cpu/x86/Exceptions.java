package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Flags.IF;
import static io.cloister.cpu.x86.Flags.TF;

import io.cloister.api.cpu.Exit;

/**
 * Exceptions and interrupts: delivery through the 64-bit IDT, double and triple faults, a delivery
 * that waits for the VMM, INT n and INT3.
 */
abstract class Exceptions extends Operands {
    /** An exception whose delivery waited for the VMM (its gate or stack in MMIO, a page to convert): delivered again first. */
    int redeliverVector = -1;
    long redeliverError;
    boolean redeliverHasError;

    /**
     * Delivers an exception through the 64-bit IDT; returns a Shutdown exit for a triple fault.
     * The faulting instruction's RIP is pushed, so the handler may retry it.
     */
    Exit deliver(int vector, long error, boolean hasError) {
        for (int depth = 0; depth < 3; depth++) {
            try {
                interrupt(vector, error, hasError, rip);
                accesses.clear();
                return null;
            } catch (Fault f) {
                accesses.clear();
                if (depth == 0 && vector != VEC_DF) {
                    vector = VEC_DF;
                    error = 0;
                    hasError = true;
                } else {
                    break;
                }
            } catch (Retry r) {
                // The gate or the stack needs the VMM: deliver again once it answered, replaying what it did.
                accesses.rewind();
                redeliverVector = vector;
                redeliverError = error;
                redeliverHasError = hasError;
                return null;
            }
        }
        return new Exit.Shutdown(String.format("triple fault at rip 0x%x (exception %d, error 0x%x)", rip, fault.vector, fault.error));
    }

    /** Enters the IDT gate for {@code vector}, returning to {@code returnRip}. */
    private void interrupt(int vector, long error, boolean hasError, long returnRip) {
        if ((efer & EFER_LMA) == 0 || vector * 16 + 15 > idtLimit) {
            throw fault(VEC_GP, vector * 8 + 2);
        }
        long gate = idtBase + vector * 16L;
        long lo = rd(gate, 8);
        long hi = rd(gate + 8, 8);
        if ((lo & (1L << 47)) == 0) {
            throw fault(VEC_GP, vector * 8 + 2);
        }
        long target = (lo & 0xffff) | ((lo >>> 32) & 0xffff0000L) | (hi << 32);
        int selector = (int) ((lo >>> 16) & 0xffff);
        int type = (int) ((lo >>> 40) & 0xf);
        long sp = r[RSP] & ~0xfL;
        long[] frame = {sreg[2], r[RSP], flags(), cs, returnRip};
        for (long v : frame) {
            sp -= 8;
            wr(sp, 8, v);
        }
        if (hasError) {
            sp -= 8;
            wr(sp, 8, error);
        }
        r[RSP] = sp;
        if (type == 0xe) {
            rflags &= ~IF;
        }
        rflags &= ~TF;
        cs = selector;
        code64 = true;
        rip = target;
    }

    void softInterrupt(int vector) {
        if ((efer & EFER_LMA) == 0) {
            throw fault(VEC_GP, 0);
        }
        interrupt(vector, 0, false, ip);
        ip = rip;
    }

    Exceptions(Wiring w) {
        super(w);
    }
}
