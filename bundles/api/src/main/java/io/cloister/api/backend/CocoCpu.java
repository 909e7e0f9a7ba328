package io.cloister.api.backend;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * The confidential-computing semantics of one VM's CPUs, the single place they are defined: the
 * CPUID leaves and MSRs a technology adds (0x8000001F and SEV_STATUS for SEV/SNP, 0x21 for TDX),
 * whether the guest may touch a private page now (SNP validation, TDX accept) and the exception a
 * refusal raises. A backend policy makes one per VM ({@link BackendPolicy#cpu}); the VMM hands the
 * engine a view that follows the VM's current policy, so a swap changes what the guest sees next.
 */
@ConsumerType
public interface CocoCpu {
    /** #VE, the exception a TDX guest gets for a page it has not accepted. */
    int VE_VECTOR = 20;
    /** #VC, the exception an SNP guest gets for a page it has not validated. */
    int VC_VECTOR = 29;

    /** No confidential computing: nothing added, every page usable. */
    CocoCpu NONE = new CocoCpu() {
    };

    /** {eax, ebx, ecx, edx} of a leaf the technology defines, or null to leave it to the engine. */
    default int[] cpuid(int leaf, int subleaf) {
        return null;
    }

    /** The value of an MSR the technology defines, or null. */
    default Long msr(int msr) {
        return null;
    }

    /**
     * Whether the guest may touch the page at {@code gpa} now (false for an SNP page not yet
     * validated or a TDX page not yet accepted); the engine asks when it fills a translation.
     */
    default boolean mayAccess(long gpa) {
        return true;
    }

    /** The vector a refused access raises ({@link #VE_VECTOR} or {@link #VC_VECTOR}). */
    default int accessFaultVector() {
        return VC_VECTOR;
    }
}
