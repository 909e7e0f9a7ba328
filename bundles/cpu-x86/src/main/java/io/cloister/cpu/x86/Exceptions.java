package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Flags.IF;
import static io.cloister.cpu.x86.Flags.TF;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.cpu.Exit;

/**
 * Exceptions and interrupts: delivery through the 64-bit IDT (gate and code segment checks, the
 * stack switch to RSPn of the TSS on a privilege change, IST stacks), double and triple faults, a
 * delivery that waits for the VMM, INT n and INT3.
 */
abstract class Exceptions extends RealMode {
    private static final Logger LOG = LoggerFactory.getLogger(X86Vcpu.class);
    private static final long NT = 1L << 14, RF = 1L << 16, VM = 1L << 17;

    /** An exception whose delivery waited for the VMM (its gate or stack in MMIO, a page to convert): delivered again first. */
    int redeliverVector = -1;
    long redeliverError;
    boolean redeliverHasError;

    /** The addresses of #UD already logged (a bounded set: a guest looping on #UD logs a few lines, not a flood). */
    private final java.util.Set<Long> loggedUd = new java.util.HashSet<>();

    /**
     * Delivers an exception or external interrupt through the 64-bit IDT; returns a Shutdown exit for
     * a triple fault. The faulting instruction's RIP is pushed, so the handler may retry it. A fault
     * while delivering is delivered in its place, or as a double fault where the SDM's table 6-5 says
     * so (contributory after contributory, contributory or #PF after #PF); one while delivering a
     * double fault shuts the processor down.
     */
    Exit deliver(int vector, long error, boolean hasError) {
        if (vector == VEC_UD) {
            logUd();
        }
        boolean external = true;
        for (int attempt = 0; attempt < 8; attempt++) {
            try {
                interrupt(vector, error, hasError, rip, false);
                accesses.clear();
                return null;
            } catch (Fault f) {
                accesses.clear();
                if (vector == VEC_DF) {
                    break;
                }
                int second = f.vector;
                if ((contributory(vector) && contributory(second)) || (vector == VEC_PF && (contributory(second) || second == VEC_PF))) {
                    vector = VEC_DF;
                    error = 0;
                    hasError = true;
                } else {
                    vector = second;
                    error = f.error;
                    hasError = f.hasError;
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

    private static boolean contributory(int vector) {
        return vector == VEC_DE || (vector >= 10 && vector <= VEC_GP);
    }

    /** #UD: logged with the instruction's bytes and address (once per address, at most 32 addresses), so a boot that stops says what it needs. */
    private void logUd() {
        if (loggedUd.size() >= 32 || !loggedUd.add(rip)) {
            return;
        }
        StringBuilder bytes = new StringBuilder();
        long at = code64 ? rip : (rip + sbase[SEG_CS]) & 0xffffffffL;
        try {
            for (int i = 0; i < 15; i++) {
                bytes.append(String.format("%02x ", sysRead(at + i, 1)));
            }
        } catch (Fault | Retry unreadable) {
            bytes.append("..."); // the rest is not mapped (or is MMIO)
        }
        accesses.clear();
        LOG.info("vCPU {}: #UD at rip 0x{} (CPL {}): {}", index, Long.toHexString(rip), cs & 3, bytes.toString().trim());
    }

    /**
     * Enters the IDT gate for {@code vector}, returning to {@code returnRip} (SDM vol. 3, 6.14): an
     * interrupt or trap gate (#GP(vector) otherwise, also for INT n through a gate of DPL below the
     * CPL), present (#NP(vector)), to a present 64-bit code segment of DPL at most the CPL (#GP or
     * #NP with its selector). A non-conforming segment of lower DPL switches to its privilege and to
     * RSPn of the TSS with a null SS; a gate's IST index always switches to that stack. SS:RSP,
     * RFLAGS, CS:RIP (and an error code) are pushed on the 16-byte aligned stack. Everything is
     * read and written before a register changes, so a fault leaves the state as it was. Error codes
     * carry EXT (bit 0) for an event not raised by INT n.
     */
    private void interrupt(int vector, long error, boolean hasError, long returnRip, boolean soft) {
        if ((cr0 & CR0_PE) == 0) {
            realInterrupt(vector, returnRip); // no error code in real mode
            return;
        }
        int ext = soft ? 0 : 1;
        int gateError = vector * 8 + 2 + ext;
        if ((efer & EFER_LMA) == 0 || vector * 16 + 15 > idtLimit) {
            throw fault(VEC_GP, gateError);
        }
        long gate = idtBase + vector * 16L;
        long lo = sysRead(gate, 8);
        long hi = sysRead(gate + 8, 8);
        int type = type(lo);
        if ((lo & D_S) != 0 || (type != 0xe && type != 0xf)) {
            throw fault(VEC_GP, gateError);
        }
        int cpl = cs & 3;
        if (soft && dpl(lo) < cpl) {
            throw fault(VEC_GP, gateError);
        }
        if ((lo & D_P) == 0) {
            throw fault(VEC_NP, gateError);
        }
        long target = (lo & 0xffff) | ((lo >>> 32) & 0xffff0000L) | (hi << 32);
        int selector = (int) ((lo >>> 16) & 0xffff);
        int selError = (selector & 0xfffc) + ext;
        if ((selector & ~3) == 0) {
            throw fault(VEC_GP, ext);
        }
        if (!inTable(selector)) {
            throw fault(VEC_GP, selError);
        }
        long code = readDescriptor(selector);
        if ((code & D_S) == 0 || (code & D_CODE) == 0 || dpl(code) > cpl || (code & D_L) == 0 || (code & D_DB) != 0) {
            throw fault(VEC_GP, selError);
        }
        if ((code & D_P) == 0) {
            throw fault(VEC_NP, selError);
        }
        if ((target << 16 >> 16) != target) {
            throw fault(VEC_GP, ext);
        }
        int newCpl = (code & D_CONFORMING) != 0 ? cpl : dpl(code);
        int ist = (int) (lo >>> 32) & 7;
        long sp = r[RSP];
        int ss = sreg[2];
        if (newCpl < cpl) {
            sp = tssStack(newCpl);
            ss = newCpl; // a null selector with RPL = the new CPL
        }
        if (ist != 0) {
            sp = tssIst(ist);
        }
        sp &= ~0xfL;
        if ((sp << 16 >> 16) != sp) {
            throw fault(VEC_SS, ext);
        }
        long[] frame = {sreg[2], r[RSP], flags(), cs, returnRip};
        int was = supervisorAccess;
        supervisorAccess = newCpl < 3 ? 1 : 0; // the frame is written at the new privilege
        try {
            for (long v : frame) {
                sp -= 8;
                wr(sp, 8, v);
            }
            if (hasError) {
                sp -= 8;
                wr(sp, 8, error);
            }
        } finally {
            supervisorAccess = was;
        }
        r[RSP] = sp;
        sreg[2] = ss;
        if (type == 0xe) {
            rflags &= ~IF;
        }
        rflags &= ~(TF | NT | RF | VM);
        cs = (selector & 0xfffc) | newCpl;
        code64 = true;
        code16 = false; // the interrupted code may have been 16-bit compatibility mode
        rip = target;
        if (newCpl != cpl) {
            privilegeChanged();
        }
    }

    /** INT1 (ICEBP, F1): #DB as a trap past the instruction, not checked against the gate's DPL (it is not INT n). */
    void icebp() {
        if ((efer & EFER_LMA) == 0 && (cr0 & CR0_PE) != 0) {
            throw fault(VEC_GP, 0);
        }
        interrupt(1, 0, false, ip, false);
        ip = rip;
    }

    /** INT n, INT3: a software interrupt, checked against the gate's DPL; the return address is the next instruction. */
    void softInterrupt(int vector) {
        if ((efer & EFER_LMA) == 0 && (cr0 & CR0_PE) != 0) {
            throw fault(VEC_GP, 0);
        }
        interrupt(vector, 0, false, ip, true);
        ip = rip;
    }

    Exceptions(Wiring w) {
        super(w);
    }
}
