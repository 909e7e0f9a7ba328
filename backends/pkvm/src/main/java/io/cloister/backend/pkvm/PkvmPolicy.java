package io.cloister.backend.pkvm;

import java.util.List;

import org.osgi.service.component.annotations.Component;

import io.cloister.api.Errno;
import io.cloister.api.backend.BackendPolicy;
import io.cloister.api.memory.GuestMemoryControl;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.backend.HostAccess;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.PageState;

/**
 * Arm pKVM protected VM: private by default; MEM_SHARE / MEM_UNSHARE change a page's owner in
 * place, content preserved; the host touching a page it was not given is a stage-2 fault.
 */
@Component(property = BackendPolicy.PROPERTY + "=pkvm")
public class PkvmPolicy implements BackendPolicy {
    @Override
    public String name() {
        return "pkvm";
    }

    @Override
    public void validateLayout(List<SlotSpec> layout) {
    }

    @Override
    public PageState initialState() {
        return PageState.PRIVATE;
    }

    @Override
    public long handle(GuestMemoryControl memory, GuestRequest request) {
        return switch (request) {
            case GuestRequest.PkvmShare r -> BackendPolicy.result(
                    () -> memory.convert(r.gpa(), pages(r.pages()), PageState.SHARED, ContentRule.PRESERVE));
            case GuestRequest.PkvmUnshare r -> BackendPolicy.result(
                    () -> memory.convert(r.gpa(), pages(r.pages()), PageState.PRIVATE, ContentRule.PRESERVE));
            case GuestRequest.MapGpaRange r -> BackendPolicy.result(() -> memory.convert(r.gpa(), r.length(),
                    r.toPrivate() ? PageState.PRIVATE : PageState.SHARED, ContentRule.PRESERVE));
            default -> -Errno.EOPNOTSUPP.code();
        };
    }

    private static long pages(long n) {
        return new GuestRequest.MapGpaRange(0, n, 0).length();
    }

    @Override
    public HostAccess hostAccess() {
        return HostAccess.DENY;
    }

    /** A protected VM's vCPU state stays at EL2, out of the host's reach. */
    @Override
    public boolean protectsCpuState() {
        return true;
    }

    @Override
    public void adopt(GuestMemoryControl memory, List<SlotSpec> layout) {
        // Shares are in place: any mix of private and shared pages is a valid pKVM state.
    }
}
