package io.cloister.api.cpu;

/**
 * The confidential-computing view of a vCPU, from the VM's backend policy: the CPUID leaves and
 * MSRs that technology defines (0x8000001F and SEV_STATUS for SEV/SNP, 0x21 for TDX). It follows
 * the VM's current backend, so a swap changes what the guest sees next time it asks.
 */
public interface CocoCpu {
    /** No confidential computing. */
    CocoCpu NONE = new CocoCpu() {
        @Override
        public int[] cpuid(int leaf, int subleaf) {
            return null;
        }

        @Override
        public Long msr(int msr) {
            return null;
        }
    };

    /** {eax, ebx, ecx, edx} of a leaf the backend defines, or null to leave it to the engine. */
    int[] cpuid(int leaf, int subleaf);

    /** The value of an MSR the backend defines, or null. */
    Long msr(int msr);

    /**
     * Whether the guest may touch the page at {@code gpa} now (false for an SNP page not yet
     * validated or a TDX page not yet accepted); the engine asks when it fills a translation.
     */
    default boolean mayAccess(long gpa) {
        return true;
    }

    /** The exception vector a refused access raises in the guest (#VE = 20 for TDX, #VC = 29 for SNP). */
    default int accessFaultVector() {
        return 29;
    }
}
