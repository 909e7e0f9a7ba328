package io.cloister.api.backend;

import java.lang.foreign.MemorySegment;
import java.util.List;

import org.osgi.annotation.versioning.ConsumerType;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.PageState;

/**
 * The confidential-computing semantics of a VM (plain, sev, snp, tdx, pkvm). Registered as a
 * service with property {@value #PROPERTY}; the VMM picks one by name at VM creation and may
 * replace it at a safe point (vCPUs paused, no request in flight). Per-VM state a policy keeps is
 * keyed by VM name and rebuilt by {@link #adopt}.
 */
@ConsumerType
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

    /** Whether the guest may use the private page at {@code gpa} now (SNP validation, TDX accept). */
    default boolean guestMayUse(GuestMemoryControl memory, long gpa) {
        return true;
    }

    /**
     * Takes over a VM at a safe point, building whatever per-VM state it keeps from the current
     * memory state; throws CloisterException (EINVAL) to refuse, which leaves the VM unchanged.
     */
    void adopt(GuestMemoryControl memory, List<SlotSpec> layout);

    /** {eax, ebx, ecx, edx} of a CPUID leaf this technology defines (e.g. 0x8000001F, 0x21), or null. */
    default int[] cpuid(int leaf, int subleaf) {
        return null;
    }

    /** The vector the guest gets when {@link #guestMayUse} says no: #VE (20) on TDX, #VC (29) on SNP. */
    default int accessFaultVector() {
        return 29;
    }

    /** An MSR this technology defines (e.g. SEV_STATUS), or null. */
    default Long msr(int msr) {
        return null;
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
