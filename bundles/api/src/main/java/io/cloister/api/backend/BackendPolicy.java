package io.cloister.api.backend;

import java.util.List;

import org.osgi.annotation.versioning.ConsumerType;

import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.PageState;

/**
 * The confidential-computing semantics of a VM (plain, sev, snp, tdx, pkvm). Registered as a
 * service with property {@value #PROPERTY}; the VMM picks one by name at VM creation and may
 * replace it at a safe point.
 */
@ConsumerType
public interface BackendPolicy {
    String PROPERTY = "backend";

    String name();

    /** Refuses a memory layout this technology cannot run (CloisterException with EINVAL). */
    void validateLayout(List<SlotSpec> layout);

    /** The state of restricted pages when the VM is created. */
    PageState initialState();

    /**
     * Handles the guest's conversion request; returns the hypercall result for the guest's rax
     * (0 on success, a negative errno otherwise).
     */
    long convert(GuestMemoryControl memory, ConversionRequest request);

    /** Whether the host may read or write a page in {@code state}. */
    boolean hostMayAccess(PageState state);

    /**
     * Asked at a safe point to take over a running VM; throws (EINVAL) to refuse, leaving the VM
     * with its previous policy.
     */
    void adopt(GuestMemoryControl memory, List<SlotSpec> layout);
}
