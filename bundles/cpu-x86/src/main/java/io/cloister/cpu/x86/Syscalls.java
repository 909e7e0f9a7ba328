package io.cloister.cpu.x86;

/**
 * The fast system call instructions of long mode (SDM vol. 2, SYSCALL, SYSRET, SWAPGS): their
 * MSRs (STAR, LSTAR, CSTAR, SFMASK) and the segment values they load without reading the GDT, as
 * the processor does. SYSENTER/SYSEXIT are not offered (CPUID.1:EDX.SEP clear).
 */
abstract class Syscalls extends ControlFlow {
    static final long EFER_SCE = 1;
    static final long RF = 1L << 16;

    long star;
    long lstar;
    long cstar;
    long sfmask;

    /**
     * SYSCALL (0F 05): #UD unless EFER.SCE in long mode. RCX = the next RIP, R11 = RFLAGS; CS =
     * STAR[47:32] and SS = that + 8 at CPL 0; RFLAGS loses the SFMASK bits and RF; RIP = LSTAR
     * (CSTAR from compatibility mode).
     */
    void syscall() {
        if ((efer & EFER_SCE) == 0 || (efer & EFER_LMA) == 0) {
            throw ud();
        }
        int cpl = cs & 3;
        r[RCX] = ip;
        r[11] = flags() & ~RF;
        int sel = (int) (star >>> 32) & 0xfffc;
        long target = code64 ? lstar : cstar;
        cs = sel;
        sreg[2] = sel + 8;
        code64 = true;
        code16 = false;
        rflags = (rflags & ~(sfmask & 0xffffffffL) & ~RF) | Flags.FIXED;
        ip = target;
        if (cpl != 0) {
            privilegeChanged();
        }
    }

    /**
     * SYSRET (0F 07): #UD unless EFER.SCE, #GP(0) outside CPL 0 or 64-bit mode. With REX.W to
     * 64-bit code (CS = STAR[63:48] + 16, RIP = RCX, #GP(0) if not canonical), else to
     * compatibility mode (CS = STAR[63:48], RIP = ECX); SS = STAR[63:48] + 8, all with RPL 3;
     * RFLAGS from R11.
     */
    void sysret() {
        if ((efer & EFER_SCE) == 0) {
            throw ud();
        }
        if ((cs & 3) != 0 || !code64) {
            throw fault(VEC_GP, 0);
        }
        int base = (int) (star >>> 48) & 0xffff;
        long target = r[RCX];
        boolean to64 = dec.opsize == 8;
        if (to64 && (target << 16 >> 16) != target) {
            throw fault(VEC_GP, 0);
        }
        cs = ((to64 ? base + 16 : base) & 0xfffc) | 3;
        sreg[2] = ((base + 8) & 0xfffc) | 3;
        code64 = to64;
        code16 = false; // SYSRET's CS: 64-bit, or 32-bit compatibility mode
        rflags = (r[11] & 0x3c7fd7L & ~RF) | Flags.FIXED;
        ip = to64 ? target : target & 0xffffffffL;
        privilegeChanged();
    }

    /** SWAPGS (0F 01 F8): exchanges GS.base and KERNEL_GS_BASE; CPL 0 in 64-bit mode only. */
    void swapgs() {
        if (!code64) {
            throw ud();
        }
        privileged();
        long g = gsBase;
        gsBase = kernelGsBase;
        kernelGsBase = g;
    }

    Syscalls(Wiring w) {
        super(w);
    }
}
