package io.cloister.cpu.x86;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * RDMSR and WRMSR: the architectural MSRs the engine backs (TSC, APIC base and the x2APIC range,
 * EFER, the system call MSRs, FS/GS bases, TSC_AUX, PAT) and those Linux reads while it identifies
 * an Intel processor (microcode revision, MISC_ENABLE, FEATURE_CONTROL, ARCH_CAPABILITIES). Any
 * other MSR is #GP(0) in the guest, as on a processor without it (Linux reads many through its
 * exception-safe accessors), and is logged once: never an error of the VMM.
 */
abstract class Msrs extends CocoInsns {
    private static final Logger LOG = LoggerFactory.getLogger(X86Vcpu.class);

    static final long CR4_TSD = 1L << 2;

    static final int MSR_TSC = 0x10;
    static final int MSR_APIC_BASE = 0x1b;
    static final int MSR_FEATURE_CONTROL = 0x3a;
    static final int MSR_TSC_ADJUST = 0x3b;
    static final int MSR_UCODE_REV = 0x8b;
    static final int MSR_ARCH_CAPABILITIES = 0x10a;
    static final int MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176;
    static final int MSR_MISC_ENABLE = 0x1a0;
    static final int MSR_PAT = 0x277;
    static final int MSR_EFER = 0xc0000080;
    static final int MSR_STAR = 0xc0000081, MSR_LSTAR = 0xc0000082, MSR_CSTAR = 0xc0000083, MSR_SFMASK = 0xc0000084;
    static final int MSR_FS_BASE = 0xc0000100;
    static final int MSR_GS_BASE = 0xc0000101;
    static final int MSR_KERNEL_GS_BASE = 0xc0000102;
    static final int MSR_TSC_AUX = 0xc0000103;

    /**
     * IA32_ARCH_CAPABILITIES (CPUID.7:EDX[29]): what this processor is not subject to, since it does
     * not speculate — RDCL_NO (no Meltdown, so no page-table isolation), SKIP_L1DFL_VMENTRY, SSB_NO,
     * MDS_NO, PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO, FBSDP_NO, PSDP_NO, BHI_NO, PBRSB_NO, GDS_NO,
     * RFDS_NO, and ITS_NO (bit 62, which VMMs synthesize for guests not subject to Indirect Target
     * Selection). Without ITS_NO, Linux 6.1.140+ on this Intel model (06/6a) sends every return
     * and most indirect branches through thunks ("ITS: Mitigation: Aligned branch/return thunks"):
     * each return a jump more, which ends a compiled block here. QEMU's TCG CPU (AMD) is not
     * subject to it, so the two ran different kernels' worth of code.
     */
    static final long ARCH_CAPABILITIES = 1 | 1L << 3 | 1L << 4 | 1L << 5 | 1L << 6 | 1L << 8 | 1L << 13 | 1L << 14 | 1L << 15
            | 1L << 20 | 1L << 24 | 1L << 26 | 1L << 27 | 1L << 62;

    private final long tscOffset = System.nanoTime();
    /**
     * IA32_TSC_ADJUST (CPUID.7:EBX[1]): added to the clock's TSC. A write to it moves the TSC by the
     * difference, a write to the TSC moves it by as much (SDM vol. 3, 18.17.3); TSC deadlines are
     * compared on the guest's TSC. Linux turns off its clocksource watchdog only with this MSR
     * (and constant, non-stop TSC): an emulator's late timer ticks would otherwise mark the TSC unstable.
     */
    long tscAdjust;
    long tscAux;
    long pat = 0x0007040600070406L;
    /** Fast strings enabled, branch trace and PEBS unavailable; Linux clears LIMIT_CPUID (bit 22) if set. */
    long miscEnable = 1 | 1L << 11 | 1L << 12;
    long sysenterCs;
    long sysenterEsp;
    long sysenterEip;
    /** The MSRs already logged as unknown. */
    private final java.util.Set<Integer> loggedMsrs = new java.util.HashSet<>();

    /** The TSC: on the VM's clock where there is an APIC (its TSC deadline counts on it), else since the vCPU was made; 3 GHz. */
    long tsc() {
        return (apic != null ? apic.tsc() : (System.nanoTime() - tscOffset) * 3) + tscAdjust;
    }

    long rdmsr(int msr) {
        privileged();
        if (apic != null && io.cloister.cpu.x86.apic.LocalApic.handles(msr)) {
            Long v = apic.readMsr(msr);
            if (v == null) {
                throw fault(VEC_GP, 0);
            }
            return msr == io.cloister.cpu.x86.apic.LocalApic.MSR_TSC_DEADLINE && v != 0 ? v + tscAdjust : v;
        }
        return switch (msr) {
            case MSR_TSC -> tsc();
            case MSR_APIC_BASE -> 0xfee00000L | (1 << 11) | (index == 0 ? 1 << 8 : 0);
            case MSR_FEATURE_CONTROL -> 1; // locked, VMX and SMX off
            case MSR_TSC_ADJUST -> tscAdjust;
            case MSR_UCODE_REV -> 1L << 32;
            case MSR_ARCH_CAPABILITIES -> ARCH_CAPABILITIES;
            case MSR_SYSENTER_CS -> sysenterCs;
            case MSR_SYSENTER_ESP -> sysenterEsp;
            case MSR_SYSENTER_EIP -> sysenterEip;
            case MSR_MISC_ENABLE -> miscEnable;
            case MSR_PAT -> pat;
            case MSR_EFER -> efer;
            case MSR_STAR -> star;
            case MSR_LSTAR -> lstar;
            case MSR_CSTAR -> cstar;
            case MSR_SFMASK -> sfmask;
            case MSR_FS_BASE -> fsBase;
            case MSR_GS_BASE -> gsBase;
            case MSR_KERNEL_GS_BASE -> kernelGsBase;
            case MSR_TSC_AUX -> tscAux;
            case MSR_GHCB -> {
                if (!snp()) {
                    throw unknownMsr(msr, false);
                }
                yield ghcbMsr;
            }
            default -> {
                Long v = coco.msr(msr);
                if (v == null) {
                    v = model.msr(msr);
                }
                if (v == null) {
                    throw unknownMsr(msr, false);
                }
                yield v;
            }
        };
    }

    void wrmsr(int msr, long v) {
        privileged();
        if (apic != null && io.cloister.cpu.x86.apic.LocalApic.handles(msr)) {
            if (msr == io.cloister.cpu.x86.apic.LocalApic.MSR_TSC_DEADLINE && v != 0) {
                v = Math.max(1, v - tscAdjust); // on the clock's scale; 0 would disarm
            }
            if (!apic.writeMsr(msr, v)) {
                throw fault(VEC_GP, 0);
            }
            return;
        }
        switch (msr) {
            case MSR_EFER -> {
                efer = (v & (EFER_LME | EFER_NXE | 1)) | (efer & EFER_LMA);
                flushTlb();
            }
            case MSR_STAR -> star = v;
            case MSR_LSTAR -> lstar = canonical(v);
            case MSR_CSTAR -> cstar = canonical(v);
            case MSR_SFMASK -> sfmask = v & 0xffffffffL;
            case MSR_FS_BASE -> fsBase = canonical(v);
            case MSR_GS_BASE -> gsBase = canonical(v);
            case MSR_KERNEL_GS_BASE -> kernelGsBase = canonical(v);
            case MSR_TSC_AUX -> {
                if ((v >>> 32) != 0) {
                    throw fault(VEC_GP, 0);
                }
                tscAux = v;
            }
            case MSR_SYSENTER_CS -> sysenterCs = v & 0xffff;
            case MSR_SYSENTER_ESP -> sysenterEsp = canonical(v);
            case MSR_SYSENTER_EIP -> sysenterEip = canonical(v);
            case MSR_PAT -> {
                for (int i = 0; i < 8; i++) {
                    int type = (int) (v >>> (8 * i)) & 0xff;
                    if (type == 2 || type == 3 || type > 7) {
                        throw fault(VEC_GP, 0); // reserved memory types
                    }
                }
                pat = v;
            }
            case MSR_MISC_ENABLE -> miscEnable = (miscEnable & ~(1L << 22)) | (v & (1L << 22)); // only LIMIT_CPUID is writable here
            case MSR_UCODE_REV -> { } // Linux writes 0 before CPUID to read the revision back
            case MSR_GHCB -> {
                if (!snp()) {
                    throw unknownMsr(msr, true);
                }
                ghcbMsr = v;
            }
            case MSR_TSC -> tscAdjust += v - tsc();
            case MSR_TSC_ADJUST -> tscAdjust = v;
            case MSR_APIC_BASE -> { }
            default -> {
                if (model.msr(msr) == null) {
                    throw unknownMsr(msr, true);
                }
            }
        }
    }

    /** An address MSR takes canonical addresses only: #GP(0) otherwise. */
    private long canonical(long v) {
        if ((v << 16 >> 16) != v) {
            throw fault(VEC_GP, 0);
        }
        return v;
    }

    /** #GP(0) for an MSR the engine does not have; the first access to each is logged. */
    private Fault unknownMsr(int msr, boolean write) {
        if (loggedMsrs.size() < 256 && loggedMsrs.add(msr)) {
            LOG.info("vCPU {}: {} of MSR 0x{} at rip 0x{}, which the emulator does not have: #GP in the guest (logged once)", index,
                    write ? "WRMSR" : "RDMSR", Integer.toHexString(msr), Long.toHexString(rip));
        }
        return fault(VEC_GP, 0);
    }

    Msrs(Wiring w) {
        super(w);
    }
}
