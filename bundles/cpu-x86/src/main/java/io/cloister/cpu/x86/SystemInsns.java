package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Flags.AF;
import static io.cloister.cpu.x86.Flags.CF;
import static io.cloister.cpu.x86.Flags.OF;
import static io.cloister.cpu.x86.Flags.PF;
import static io.cloister.cpu.x86.Flags.SF;
import static io.cloister.cpu.x86.Flags.ZF;

import java.security.SecureRandom;

import io.cloister.api.cpu.Exit;

/**
 * System instructions: control registers, descriptor tables, INVLPG, hypercalls, CPUID and the
 * TSC (the MSRs are {@link Msrs}).
 */
abstract class SystemInsns extends Msrs {
    /** MOV from CR0, CR2, CR3, CR4 or CR8 (the TPR: reads 0). */
    long readCr(int n) {
        return switch (n) {
            case 0 -> cr0;
            case 2 -> cr2;
            case 3 -> cr3;
            case 4 -> cr4;
            case 8 -> 0;
            default -> throw ud();
        };
    }

    /** MOV to a control register: CR0.PG with EFER.LME and CR4.PAE enters long mode; the TLB is flushed (but for global pages at a CR3 write). */
    void writeCr(int n, long v) {
        switch (n) {
            case 0 -> {
                cr0 = v | CR0_ET;
                if ((cr0 & CR0_PG) != 0 && (efer & EFER_LME) != 0 && (cr4 & CR4_PAE) != 0) {
                    efer |= EFER_LMA;
                } else if ((cr0 & CR0_PG) == 0) {
                    efer &= ~EFER_LMA;
                }
                updateMode(); // into or out of real mode, into long mode
            }
            case 2 -> cr2 = v;
            case 3 -> {
                cr3 = v;
                flushNonGlobal();
                return;
            }
            case 4 -> cr4 = v; // a change of PGE (Linux's flush of global pages) flushes them with the rest
            case 8 -> { }
            default -> throw ud();
        }
        flushTlb();
    }

    /** DR0-DR3 (breakpoint addresses), DR6 and DR7 at their reset values; breakpoints are not taken yet. */
    private final long[] dr = new long[4];
    private long dr6 = 0xffff0ff0L;
    private long dr7 = 0x400;

    /**
     * MOV from a debug register (0F 21). Linux reads them early (pv_native_get_debugreg) and #UD
     * there is fatal. DR4/DR5 alias DR6/DR7 unless CR4.DE makes them #UD.
     */
    long readDr(int n) {
        return switch (n) {
            case 0, 1, 2, 3 -> dr[n];
            case 6 -> dr6;
            case 7 -> dr7;
            case 4, 5 -> readDr(alias(n + 2));
            default -> throw ud();
        };
    }

    /** MOV to a debug register (0F 23): the values are kept (and read back) with their fixed bits; nothing traps on them. */
    void writeDr(int n, long v) {
        int target = n == 4 || n == 5 ? alias(n + 2) : n;
        switch (target) {
            case 0, 1, 2, 3 -> dr[target] = v;
            case 6, 7 -> {
                if ((v >>> 32) != 0) {
                    throw fault(VEC_GP, 0); // the upper half of DR6/DR7 must be zero
                }
                if (target == 6) {
                    dr6 = (v | 0xffff0ff0L) & 0xffffffffL;
                } else {
                    dr7 = (v | 0x400) & ~0x1000L & 0xffffffffL;
                }
            }
            default -> throw ud();
        }
    }

    /** DR4/DR5 name DR6/DR7 ({@code n}) while CR4.DE is clear; with it set they are #UD. */
    private int alias(int n) {
        if ((cr4 & CR4_DE) != 0) {
            throw ud();
        }
        return n;
    }

    /** RDTSC; #GP(0) above CPL 0 under CR4.TSD. */
    void rdtsc() {
        if ((cr4 & CR4_TSD) != 0) {
            privileged();
        }
        long tsc = tsc();
        setReg(RAX, 4, tsc);
        setReg(RDX, 4, tsc >>> 32);
    }

    /** The source of RDRAND and RDSEED: the host's CSPRNG, created on the first use (tests that compare paths set a seeded one). */
    SecureRandom random;

    /**
     * 0F C7, group 9: CMPXCHG8B, RDRAND and RDSEED; the rest #UD (CMPXCHG16B, as CX16 is not
     * advertised). RDRAND and RDSEED are advertised as on the CPUs Linux expects: without them its
     * RNG waits for timer jitter at the first read of /dev/urandom, a second of guest time.
     */
    void group9() {
        modrm();
        int which = modReg & 7;
        if (which == 1 && !modIsReg && dec.rexW == 0 && dec.rep == 0) {
            cmpxchg8b();
        } else if ((which == 6 || which == 7) && modIsReg && dec.rep == 0) {
            if (random == null) {
                random = new SecureRandom();
            }
            int size = dec.opsize;
            setReg(modRm, size, random.nextLong() & Flags.mask(size));
            rflags = (rflags & ~(OF | SF | ZF | AF | PF)) | CF; // CF: a value is ready, which it always is here
        } else {
            throw ud();
        }
    }

    /** CMPXCHG8B m64: EDX:EAX against the operand; equal, ZF and ECX:EBX stored, else ZF clear and EDX:EAX loaded. */
    private void cmpxchg8b() {
        atomic = true;
        long dest = rm(8);
        long expected = (r[RDX] << 32) | (r[RAX] & 0xffffffffL);
        if (dest == expected) {
            setRm(8, (r[RCX] << 32) | (r[RBX] & 0xffffffffL));
            rflags |= ZF;
        } else {
            setRm(8, dest); // the locked cycle writes back what it read
            rflags &= ~ZF;
            setReg(RAX, 4, dest);
            setReg(RDX, 4, dest >>> 32);
        }
    }

    /**
     * SERIALIZE (NP 0F 01 E8): instructions here complete in order, so what is left to do is what
     * CPUID does, seeing code other vCPUs wrote (the decoded path ends its trace after it, SystemOps).
     */
    void serialize() {
        syncCode();
    }

    /** Whether the decoded instruction is SERIALIZE: 0F 01 E8 without a 66, F2 or F3 prefix. */
    static boolean isSerialize(Decoder d) {
        return d.map == Decoder.MAP_0F && d.op == 0x01 && d.modrm == 0xe8 && d.rep == 0 && !d.p66;
    }

    /** RDTSCP (0F 01 F9): RDTSC, and ECX = TSC_AUX. */
    void rdtscp() {
        rdtsc();
        setReg(RCX, 4, tscAux);
    }

    void group7() {
        int b = dec.modrm;
        if (b == 0xd9 && dec.rep == 0xf3 && snp()) { // VMGEXIT (rep vmmcall): GHCB MSR protocol
            vmgexit();
            return;
        }
        if (b == 0xc1 || b == 0xd9) { // vmcall (Intel), vmmcall (AMD)
            awaiting = new Awaiting.Hypercall();
            report(new Exit.Hypercall(r[RAX], r[RBX], r[RCX], r[RDX], r[RSI]));
            return;
        }
        if (b == 0xcc && dec.opsize == 2 && tdx()) { // tdcall, in a TD only
            tdcall();
            return;
        }
        if (b == 0xff && dec.rep == 0xf2 && snp()) {
            pvalidate();
            return;
        }
        if (b == 0xf8) {
            swapgs();
            return;
        }
        if (b == 0xf9) {
            rdtscp();
            return;
        }
        if (isSerialize(dec)) {
            serialize();
            return;
        }
        modrm();
        int which = modReg & 7;
        if (modIsReg) {
            switch (which) {
                case 4 -> setRm(dec.opsize, cr0 & Flags.mask(dec.opsize)); // SMSW r: the operand size
                case 6 -> {
                    privileged();
                    lmsw(rm(2));
                }
                default -> throw ud();
            }
            return;
        }
        switch (which) {
            case 4 -> wr(ea, 2, cr0); // SMSW m16
            case 6 -> {
                privileged();
                lmsw(rd(ea, 2));
            }
            case 2, 3 -> {
                privileged();
                int limit = (int) rd(ea, 2);
                // A 16-bit operand size loads a 24-bit base (SDM vol. 2, LGDT).
                long base = code64 ? rd(ea + 2, 8) : rd(ea + 2, 4) & (dec.opsize == 2 ? 0xffffffL : 0xffffffffL);
                if (which == 2) {
                    gdtLimit = limit;
                    gdtBase = base;
                } else {
                    idtLimit = limit;
                    idtBase = base;
                }
            }
            case 0, 1 -> {
                wr(ea, 2, which == 0 ? gdtLimit : idtLimit);
                wr(ea + 2, code64 ? 8 : 4, which == 0 ? gdtBase : idtBase);
            }
            case 7 -> { // invlpg: drop everything, the TLB is small
                privileged();
                flushTlb();
            }
            default -> throw ud();
        }
    }

    /** LMSW: CR0's PE, MP, EM and TS from the operand; it sets PE but never clears it (SDM vol. 2, LMSW). */
    private void lmsw(long v) {
        writeCr(0, (cr0 & ~0xeL) | (v & 0xf) | (cr0 & CR0_PE));
    }

    void cpuid() {
        syncCode(); // CPUID serializes: code other vCPUs wrote is seen from here on
        int leaf = (int) r[RAX];
        int sub = (int) r[RCX];
        int[] v = coco.cpuid(leaf, sub);
        if (v == null) {
            v = model.cpuid(leaf, sub).clone();
            if (leaf == 1) {
                v[1] = (v[1] & 0x00ffffff) | (index << 24); // initial APIC ID: the vCPU's index
                v[3] |= FpuInsns.CPUID1_EDX; // what FpuInsns, X87Insns and SseInsns back
                if (apic != null) {
                    v[3] |= 1 << 9; // APIC
                    v[2] |= 1 << 21 | 1 << 24; // x2APIC, TSC deadline
                }
            }
            // The highest leaves include those the backend adds (0x21 for TDX, 0x8000001F for SEV).
            if (leaf == 0 && tdx()) {
                v[0] = Math.max(v[0], 0x21);
            } else if (leaf == 0x80000000 && coco.cpuid(0x8000001f, 0) != null) {
                v[0] = Math.max(v[0], 0x8000001f);
            }
        }
        setReg(RAX, 4, v[0]);
        setReg(RBX, 4, v[1]);
        setReg(RCX, 4, v[2]);
        setReg(RDX, 4, v[3]);
    }

    SystemInsns(Wiring w) {
        super(w);
    }
}
