package io.cloister.backend.tdx;

import java.util.BitSet;
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
import io.cloister.api.memory.SlotKind;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.PageState;

/**
 * Intel TDX: private by default; the guest addresses shared memory with the shared bit (bit 47,
 * GPAW 48) and converts with TDG.VP.VMCALL&lt;MapGPA&gt;; conversion destroys content and a page
 * made private must be accepted (TDG.MEM.PAGE.ACCEPT) before use. SMM/SMRAM and PAM alias slots
 * are refused at VM creation: they would bind private RAM twice (the seed's QEMU ret=-22).
 */
@Component(property = BackendPolicy.PROPERTY + "=tdx")
public class TdxPolicy implements BackendPolicy {
    public static final long SHARED_BIT = 1L << 47;

    /** Accepted private pages per VM; guarded by the set's monitor. */
    private final Map<String, BitSet> accepted = new ConcurrentHashMap<>();

    @Override
    public String name() {
        return "tdx";
    }

    @Override
    public void validateLayout(List<SlotSpec> layout) {
        for (SlotSpec s : layout) {
            if (s.kind() == SlotKind.SMRAM_ALIAS || s.kind() == SlotKind.PAM_ALIAS) {
                throw new CloisterException(Errno.EINVAL, String.format(
                        "backend tdx refuses the %s slot at gpa 0x%x: SMM/SMRAM and PAM aliases of private memory are "
                                + "incompatible with TDX (configure the VM without SMM)", s.kind(), s.gpa()));
            }
            if (s.backing() instanceof Backing.AliasOf) {
                throw new CloisterException(Errno.EINVAL, String.format(
                        "backend tdx refuses the alias slot at gpa 0x%x: TDX private memory has one guest address", s.gpa()));
            }
        }
    }

    @Override
    public PageState initialState() {
        return PageState.PRIVATE;
    }

    private BitSet acceptedOf(GuestMemoryControl memory) {
        BitSet set = accepted.get(memory.vmName());
        if (set == null) {
            throw new CloisterException(Errno.EINVAL, "tdx: VM '" + memory.vmName() + "' was not adopted");
        }
        return set;
    }

    @Override
    public long handle(GuestMemoryControl memory, GuestRequest request) {
        return switch (request) {
            case GuestRequest.TdxMapGpa r -> BackendPolicy.result(() -> map(memory, r.gpa() & ~SHARED_BIT, r.length(),
                    (r.gpa() & SHARED_BIT) == 0));
            // KVM forwards MapGPA to userspace as KVM_HC_MAP_GPA_RANGE.
            case GuestRequest.MapGpaRange r -> BackendPolicy.result(() -> map(memory, r.gpa() & ~SHARED_BIT, r.length(), r.toPrivate()));
            case GuestRequest.TdxAccept r -> BackendPolicy.result(() -> accept(memory, r.gpa() & ~SHARED_BIT));
            default -> -Errno.EOPNOTSUPP.code();
        };
    }

    private void map(GuestMemoryControl memory, long gpa, long length, boolean toPrivate) {
        BitSet set = acceptedOf(memory);
        synchronized (set) {
            memory.convert(gpa, length, toPrivate ? PageState.PRIVATE : PageState.SHARED, ContentRule.DESTROY);
            set.clear(Math.toIntExact(gpa >>> Pages.SHIFT), Math.toIntExact((gpa + length) >>> Pages.SHIFT));
        }
    }

    private void accept(GuestMemoryControl memory, long gpa) {
        if (!Pages.aligned(gpa)) {
            throw new CloisterException(Errno.EINVAL, String.format("tdx: accept of unaligned gpa 0x%x", gpa));
        }
        BitSet set = acceptedOf(memory);
        synchronized (set) {
            if (memory.state(gpa) != PageState.PRIVATE) {
                throw new CloisterException(Errno.EINVAL, String.format("tdx: accept of gpa 0x%x, a shared page", gpa));
            }
            int page = Math.toIntExact(gpa >>> Pages.SHIFT);
            if (set.get(page)) {
                throw new CloisterException(Errno.EEXIST, String.format("tdx: gpa 0x%x is already accepted", gpa));
            }
            set.set(page);
        }
    }

    /** CPUID 0x21: the TDX vendor string "IntelTDX    "; a private page not accepted raises #VE. */
    @Override
    public CocoCpu cpu(GuestMemoryControl memory) {
        return new CocoCpu() {
            @Override
            public int[] cpuid(int leaf, int subleaf) {
                return leaf == 0x21 && subleaf == 0 ? new int[] {0, 0x65746e49, 0x20202020, 0x5844546c} : null;
            }

            @Override
            public boolean mayAccess(long gpa) {
                return accepted(memory, gpa);
            }

            @Override
            public int accessFaultVector() {
                return VE_VECTOR;
            }
        };
    }

    /** The TD's vCPU state lives in the TDX module, out of the host's reach. */
    @Override
    public boolean protectsCpuState() {
        return true;
    }

    private boolean accepted(GuestMemoryControl memory, long gpa) {
        BitSet set = accepted.get(memory.vmName());
        if (set == null) {
            return false;
        }
        long addr = gpa & ~SHARED_BIT;
        if (memory.state(addr) == PageState.SHARED) {
            return true;
        }
        synchronized (set) {
            return set.get(Math.toIntExact(addr >>> Pages.SHIFT));
        }
    }

    @Override
    public HostAccess hostAccess() {
        return HostAccess.DENY;
    }

    /** Refuses alias layouts; private pages in use at adoption count as accepted. */
    @Override
    public void adopt(GuestMemoryControl memory, List<SlotSpec> layout) {
        validateLayout(layout);
        BitSet set = new BitSet();
        for (SlotSpec s : layout) {
            if (s.backing() instanceof Backing.Restricted) {
                for (long gpa = s.gpa(); gpa < s.end(); gpa += Pages.SIZE) {
                    if (memory.state(gpa) == PageState.PRIVATE) {
                        set.set(Math.toIntExact(gpa >>> Pages.SHIFT));
                    }
                }
            }
        }
        accepted.put(memory.vmName(), set);
    }

    @Override
    public void release(String vmName) {
        accepted.remove(vmName);
    }
}
