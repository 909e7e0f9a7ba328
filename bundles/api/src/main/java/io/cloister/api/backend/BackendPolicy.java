package io.cloister.api.backend;

import java.lang.foreign.MemorySegment;
import java.util.List;

import org.osgi.annotation.versioning.ProviderType;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.GuestMemoryControl;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.PageState;

/**
 * The confidential-computing semantics of a VM (plain, sev, snp, tdx, pkvm). Registered as a
 * service with property {@value #PROPERTY}; the VMM picks one by name at VM creation and may
 * replace it at a safe point (vCPUs paused, no request in flight). Per-VM state a policy keeps is
 * keyed by VM name and rebuilt by {@link #adopt}.
 */
@ProviderType
public interface BackendPolicy {
    String PROPERTY = "backend";

    String name();

    /** Refuses a memory layout this technology cannot run: CloisterException (EINVAL) naming the slot. */
    void validateLayout(List<SlotSpec> layout);

    /** The state of restricted pages when the VM is created. */
    PageState initialState();

    /**
     * Handles a guest request; returns what the guest sees in rax: 0 on success, a negative errno
     * otherwise (-EOPNOTSUPP for a request this technology does not have). Must not throw for a
     * guest's mistake.
     */
    long handle(GuestMemoryControl memory, GuestRequest request);

    /** What the host gets for a private page. */
    HostAccess hostAccess();

    /** For {@link HostAccess#CIPHERTEXT}: what the host sees of private memory at {@code gpa}. */
    default void hostReadPrivate(GuestMemoryControl memory, long gpa, MemorySegment dst) {
        throw new CloisterException(Errno.EACCES, name() + ": host read of private memory refused");
    }

    /**
     * Takes over a VM at a safe point, building whatever per-VM state it keeps from the current
     * memory state; throws CloisterException (EINVAL) to refuse, which leaves the VM unchanged.
     */
    void adopt(GuestMemoryControl memory, List<SlotSpec> layout);

    /**
     * The CPU semantics of this technology for the VM whose memory this is (CPUID, MSRs, whether
     * a private page may be used now, the fault a refusal raises).
     */
    default CocoCpu cpu(GuestMemoryControl memory) {
        return CocoCpu.NONE;
    }

    /**
     * Whether the host is denied the vCPUs' register state (SEV-ES/SNP keep it in the encrypted
     * VMSA, TDX in the TD's VMCS, pKVM at EL2): then the VMM shows no registers.
     */
    default boolean protectsCpuState() {
        return false;
    }

    /** Forgets a VM (destroyed, or switched to another policy). */
    default void release(String vmName) {
    }

    /** Runs {@code action} and turns a refusal into the guest's negative errno. */
    static long result(Runnable action) {
        try {
            action.run();
            return 0;
        } catch (CloisterException e) {
            return -e.errno().code();
        }
    }
}
