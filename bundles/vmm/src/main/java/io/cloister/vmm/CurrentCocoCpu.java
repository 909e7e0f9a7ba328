package io.cloister.vmm;

import java.util.function.Supplier;

import io.cloister.api.CloisterException;
import io.cloister.api.backend.CocoCpu;

/**
 * The CPU semantics of a VM's current backend, for the engine: each call asks the policy in place
 * now, so the view follows swaps. A page outside restricted memory (MMIO, ROM) is not the
 * policy's to refuse.
 */
record CurrentCocoCpu(Supplier<CocoCpu> current) implements CocoCpu {
    @Override
    public int[] cpuid(int leaf, int subleaf) {
        return current.get().cpuid(leaf, subleaf);
    }

    @Override
    public Long msr(int msr) {
        return current.get().msr(msr);
    }

    @Override
    public boolean mayAccess(long gpa) {
        try {
            return current.get().mayAccess(gpa);
        } catch (CloisterException e) {
            return true;
        }
    }

    @Override
    public int accessFaultVector() {
        return current.get().accessFaultVector();
    }
}
