package io.cloister.cpu.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.WeakHashMap;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.cpu.CocoCpu;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.cpu.Vcpu;
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
    static final String DEVICE = "/dev/kvm";

    private final Map<GuestView, KvmVm> vms = new WeakHashMap<>();
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
                LOG.info("KVM available: {}", Kvm.memoryMode());
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
        int fd;
        try {
            fd = Sys.open(device, Sys.O_RDWR | Sys.O_CLOEXEC);
        } catch (Sys.SysException e) {
            return e.errno == 2 ? "no " + device + " on this host"
                    : e.errno == 13 ? "no permission to open " + device + " (errno 13, EACCES): add the user to the kvm group"
                    : e.getMessage();
        } catch (UnsatisfiedLinkError e) {
            return "no libc: " + e.getMessage();
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = Sys.callState(arena);
            int version = Sys.ioctl(fd, Kvm.GET_API_VERSION, 0, "KVM_GET_API_VERSION", st);
            if (version != 12) {
                return "KVM API version " + version + ", Cloister needs 12";
            }
            if (Sys.ioctl(fd, Kvm.CHECK_EXTENSION, Kvm.CAP_USER_MEMORY2, "KVM_CHECK_EXTENSION", st) <= 0) {
                return "kernel lacks KVM_CAP_USER_MEMORY2";
            }
            return null;
        } catch (Sys.SysException e) {
            return e.getMessage();
        } finally {
            Sys.close(fd);
        }
    }

    @Override
    public Vcpu createVcpu(GuestView memory, int index, long entry, long startInfo, CocoCpu coco) {
        String why = unavailableReason();
        if (why != null) {
            throw new CloisterException(Errno.EOPNOTSUPP, "kvm engine: " + why);
        }
        KvmVm vm;
        synchronized (vms) {
            vm = vms.computeIfAbsent(memory, view -> new KvmVm(view, () -> {
                synchronized (vms) {
                    vms.remove(view);
                }
            }));
        }
        return vm.createVcpu(index, entry, startInfo);
    }

    @Deactivate
    void deactivate() {
        synchronized (vms) {
            vms.values().forEach(KvmVm::close);
            vms.clear();
        }
    }

    /** For tests: the KVM VM of a guest view, while it has vCPUs. */
    KvmVm vm(GuestView view) {
        synchronized (vms) {
            return vms.get(view);
        }
    }

    static long slotAddress(GuestView view, MemSlot slot) {
        MemorySegment seg = view.guestSegment(slot.id());
        return seg == null ? 0 : seg.address();
    }
}
