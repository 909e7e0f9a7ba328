package io.cloister.cpu.kvm;

import java.lang.foreign.MemorySegment;
import java.util.Set;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.cpu.EngineVm;
import io.cloister.api.memory.GuestView;
import io.cloister.api.memory.MemSlot;

/**
 * The KVM engine: guests run on /dev/kvm, reached through FFM ioctls. Guest memory is the same
 * host memory the emulator uses (KVM_SET_USER_MEMORY_REGION2 on each slot). This kernel kind has
 * guest_memfd but no KVM_CAP_MEMORY_ATTRIBUTES, so private/shared stays enforced by Cloister in
 * userspace; the log says which mode is in use.
 */
@Component(property = CpuEngine.PROPERTY + "=kvm")
public class KvmEngine implements CpuEngine {
    private static final Logger LOG = LoggerFactory.getLogger(KvmEngine.class);
    static final String DEVICE = KvmSystem.DEVICE;

    /** Open VMs, closed with the engine. */
    private final Set<KvmVm> vms = new java.util.HashSet<>();
    private volatile String unavailable;
    private volatile boolean probed;

    @Override
    public String name() {
        return "kvm";
    }

    @Override
    public String unavailableReason() {
        if (!probed) {
            unavailable = probe();
            probed = true;
            if (unavailable == null) {
                try (KvmSystem kvm = KvmSystem.open()) {
                    LOG.info("KVM available: {}", kvm.memoryMode());
                }
            } else {
                LOG.debug("KVM unavailable: {}", unavailable);
            }
        }
        return unavailable;
    }

    /** Null if /dev/kvm works here, else why not (naming the call and errno). */
    static String probe() {
        return probe(DEVICE);
    }

    static String probe(String device) {
        KvmSystem kvm;
        try {
            kvm = KvmSystem.open(device);
        } catch (Sys.SysException e) {
            return e.errno == 2 ? "no " + device + " on this host"
                    : e.errno == 13 ? "no permission to open " + device + " (errno 13, EACCES): add the user to the kvm group"
                    : e.getMessage();
        } catch (UnsatisfiedLinkError e) {
            return "no libc: " + e.getMessage();
        }
        try (kvm) {
            int version = kvm.apiVersion();
            if (version != Kvm.KVM_API_VERSION) {
                return "KVM API version " + version + ", Cloister needs " + Kvm.KVM_API_VERSION;
            }
            if (kvm.checkExtension(Kvm.Cap.KVM_CAP_USER_MEMORY2) <= 0) {
                return "kernel lacks KVM_CAP_USER_MEMORY2";
            }
            return null;
        } catch (Sys.SysException e) {
            return e.getMessage();
        }
    }

    /** CPUID and MSRs come from KVM here; the backend's CPU semantics are not applied by this engine yet. */
    @Override
    public EngineVm createVm(GuestView memory, CocoCpu coco) {
        String why = unavailableReason();
        if (why != null) {
            throw new CloisterException(Errno.EOPNOTSUPP, "kvm engine: " + why);
        }
        synchronized (vms) {
            KvmVm[] made = new KvmVm[1];
            made[0] = new KvmVm(memory, () -> {
                synchronized (vms) {
                    vms.remove(made[0]);
                }
            });
            vms.add(made[0]);
            return made[0];
        }
    }

    @Deactivate
    void deactivate() {
        java.util.List<KvmVm> open;
        synchronized (vms) {
            open = java.util.List.copyOf(vms);
        }
        open.forEach(KvmVm::close);
    }

    /** For tests: VMs not closed yet. */
    int openVms() {
        synchronized (vms) {
            return vms.size();
        }
    }

    static long slotAddress(GuestView view, MemSlot slot) {
        MemorySegment seg = view.guestSegment(slot.id());
        return seg == null ? 0 : seg.address();
    }
}
