package io.cloister.backend.snp;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.osgi.service.component.annotations.Component;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.BackendPolicy;
import io.cloister.api.backend.CocoCpu;
import io.cloister.api.memory.GuestMemoryControl;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.backend.HostAccess;
import io.cloister.api.memory.Backing;
import io.cloister.api.memory.Pages;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.PageState;

/**
 * AMD SEV-SNP: private by default; the guest changes page state through the GHCB (or
 * MAP_GPA_RANGE), content destroyed; a page made private must be PVALIDATEd before use, and
 * touching an unvalidated private page faults. The reverse map ({@link Rmp}) gives each page one
 * owner and its validated bit.
 */
@Component(property = BackendPolicy.PROPERTY + "=snp")
public class SnpPolicy implements BackendPolicy {
    private final Map<String, Rmp> rmps = new ConcurrentHashMap<>();

    @Override
    public String name() {
        return "snp";
    }

    @Override
    public void validateLayout(List<SlotSpec> layout) {
    }

    @Override
    public PageState initialState() {
        return PageState.PRIVATE;
    }

    private Rmp rmp(GuestMemoryControl memory) {
        Rmp rmp = rmps.get(memory.vmName());
        if (rmp == null) {
            throw new CloisterException(Errno.EINVAL, "snp: VM '" + memory.vmName() + "' was not adopted");
        }
        return rmp;
    }

    @Override
    public long handle(GuestMemoryControl memory, GuestRequest request) {
        return switch (request) {
            case GuestRequest.SnpPageStateChange r -> BackendPolicy.result(() -> changeState(memory, r.gpa(),
                    new GuestRequest.MapGpaRange(r.gpa(), r.pages(), 0).length(), r.toPrivate()));
            case GuestRequest.MapGpaRange r -> BackendPolicy.result(() -> changeState(memory, r.gpa(), r.length(), r.toPrivate()));
            case GuestRequest.SnpValidate r -> BackendPolicy.result(() -> validate(memory, r.gpa(), r.validate()));
            default -> -Errno.EOPNOTSUPP.code();
        };
    }

    private void changeState(GuestMemoryControl memory, long gpa, long length, boolean toPrivate) {
        Rmp rmp = rmp(memory);
        synchronized (rmp) {
            memory.convert(gpa, length, toPrivate ? PageState.PRIVATE : PageState.SHARED, ContentRule.DESTROY);
            // Assigned to the guest again, but not validated: the guest must PVALIDATE first.
            rmp.clearValidated(gpa >>> Pages.SHIFT, (gpa + length) >>> Pages.SHIFT);
        }
    }

    private void validate(GuestMemoryControl memory, long gpa, boolean validate) {
        if (!Pages.aligned(gpa)) {
            throw new CloisterException(Errno.EINVAL, String.format("snp: PVALIDATE of unaligned gpa 0x%x", gpa));
        }
        Rmp rmp = rmp(memory);
        synchronized (rmp) {
            if (memory.state(gpa) != PageState.PRIVATE) {
                throw new CloisterException(Errno.EINVAL, String.format("snp: PVALIDATE of gpa 0x%x, a shared page", gpa));
            }
            rmp.setValidated(gpa >>> Pages.SHIFT, validate);
        }
    }

    /**
     * CPUID 0x8000001F: SME, SEV, SEV-ES, SEV-SNP, the C-bit at 51; SEV_STATUS: SEV, ES and SNP
     * active; a private page not validated raises #VC.
     */
    @Override
    public CocoCpu cpu(GuestMemoryControl memory) {
        return new CocoCpu() {
            @Override
            public int[] cpuid(int leaf, int subleaf) {
                return leaf == 0x8000001F ? new int[] {0x1b, 51 | (1 << 6), 16, 1} : null;
            }

            @Override
            public Long msr(int msr) {
                return msr == 0xc0010131 ? 0x7L : null;
            }

            @Override
            public boolean mayAccess(long gpa) {
                Rmp rmp = rmps.get(memory.vmName());
                return rmp != null && (memory.state(gpa) == PageState.SHARED || rmp.validated(gpa >>> Pages.SHIFT));
            }

            @Override
            public int accessFaultVector() {
                return VC_VECTOR;
            }
        };
    }

    /** SEV-ES and SNP keep register state in the encrypted VMSA. */
    @Override
    public boolean protectsCpuState() {
        return true;
    }

    @Override
    public HostAccess hostAccess() {
        return HostAccess.DENY;
    }

    /** Pages private at adoption were in use by the guest, so they count as validated. */
    @Override
    public void adopt(GuestMemoryControl memory, List<SlotSpec> layout) {
        Rmp rmp = new Rmp(memory.vmName());
        for (SlotSpec s : layout) {
            for (long gpa = s.gpa(); gpa < s.end(); gpa += Pages.SIZE) {
                if (s.backing() instanceof Backing.Restricted && memory.state(gpa) == PageState.PRIVATE) {
                    rmp.setValidated(gpa >>> Pages.SHIFT, true);
                }
            }
        }
        rmps.put(memory.vmName(), rmp);
    }

    @Override
    public void release(String vmName) {
        rmps.remove(vmName);
    }
}
