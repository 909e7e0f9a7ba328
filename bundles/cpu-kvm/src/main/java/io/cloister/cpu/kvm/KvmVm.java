package io.cloister.cpu.kvm;

import java.util.ArrayList;
import java.util.List;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.memory.Backing;
import io.cloister.api.cpu.EngineVm;
import io.cloister.api.memory.GuestView;
import io.cloister.api.memory.MemSlot;
import io.cloister.api.restricted.Binding;
import io.cloister.api.restricted.Change;
import io.cloister.api.restricted.InvalidationListener;
import io.cloister.api.restricted.PageState;
import io.cloister.cpu.kvm.Kvm.Cap;

/**
 * One KVM VM for one guest view: its fd, memory regions and CPUID. Restricted-memory slots are
 * also bound to a real guest_memfd of KVM (KVM_CREATE_GUEST_MEMFD, KVM_SET_USER_MEMORY_REGION2
 * with KVM_MEM_GUEST_MEMFD), whose allocation follows the provider: private pages allocated,
 * shared or punched pages punched out (as QEMU does on conversions). Without
 * KVM_CAP_MEMORY_ATTRIBUTES the kernel cannot be told which pages are private, so guest accesses
 * still go through the userspace mapping and Cloister enforces private/shared there.
 */
final class KvmVm implements EngineVm {
    private static final Logger LOG = LoggerFactory.getLogger(KvmVm.class);

    /** A guest_memfd mirroring the restricted slot at gpa; allocated: its pages the kernel allocated for us. */
    record Gmem(int fd, long gpa, long size, java.util.BitSet allocated) {
    }

    private final GuestView view;
    private final Runnable onClose;
    private final List<Gmem> gmems = new ArrayList<>();
    private final InvalidationListener mirror = this::mirror;
    private int vcpus;
    private boolean closed;
    private final KvmSystem kvm;
    private final VmFd vm;
    /** The CPUID KVM supports, given as is to each vCPU: the guest needs long mode and NX from it. */
    private final Cpuid cpuid;

    KvmVm(GuestView view, Runnable onClose) {
        this.view = view;
        this.onClose = onClose;
        kvm = KvmSystem.open();
        try {
            vm = kvm.createVm();
        } catch (RuntimeException | Error e) {
            kvm.close();
            throw e;
        }
        try {
            vm.setTssAddr(0xfffbd000L);
            // MAP_GPA_RANGE hypercalls exit to us instead of being refused by KVM.
            vm.enableCap(Cap.KVM_CAP_EXIT_HYPERCALL, 1L << Kvm.KVM_HC_MAP_GPA_RANGE);
            boolean gmemCap = kvm.checkExtension(Cap.KVM_CAP_GUEST_MEMFD) > 0;
            int region = 0;
            for (MemSlot slot : view.table().slots()) {
                long addr = KvmEngine.slotAddress(view, slot);
                if (addr == 0) {
                    continue; // an alias of restricted memory: MMIO for KVM, answered by Cloister
                }
                int flags = slot.readOnly() ? Kvm.KVM_MEM_READONLY : 0;
                int gfd = 0;
                if (gmemCap && slot.backing() instanceof Backing.Restricted && !slot.readOnly()) {
                    gfd = vm.createGuestMemfd(slot.size(), 0);
                    gmems.add(new Gmem(gfd, slot.gpa(), slot.size(), new java.util.BitSet()));
                    flags |= Kvm.KVM_MEM_GUEST_MEMFD;
                }
                vm.setUserMemoryRegion2(new VmFd.MemoryRegion2(region++, flags, slot.gpa(), slot.size(), addr, 0, gfd));
            }
            if (!gmems.isEmpty()) {
                view.addInvalidationListener(mirror);
                for (Gmem g : gmems) {
                    syncPrivatePages(g);
                }
                LOG.info("KVM: {} restricted slot(s) bound to guest_memfd; {}", gmems.size(), kvm.memoryMode());
            }
            cpuid = kvm.supportedCpuid(256);
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /** Allocates in the guest_memfd each run of pages that is private now. */
    private void syncPrivatePages(Gmem g) {
        long runStart = -1;
        for (long off = 0; off <= g.size(); off += 4096) {
            boolean priv = off < g.size() && view.state(g.gpa() + off) == PageState.PRIVATE;
            if (priv && runStart < 0) {
                runStart = off;
            } else if (!priv && runStart >= 0) {
                allocate(g, runStart, off - runStart, true);
                runStart = -1;
            }
        }
    }

    /** The provider changed pages: the guest_memfd follows (called before the change is visible). */
    private void mirror(Binding binding, long gpa, long length, Change change) {
        for (Gmem g : gmems) {
            long from = Math.max(gpa, g.gpa());
            long to = Math.min(gpa + length, g.gpa() + g.size());
            if (from < to) {
                allocate(g, from - g.gpa(), to - from, change == Change.TO_PRIVATE);
            }
        }
    }

    private void allocate(Gmem g, long offset, long length, boolean allocate) {
        // guest_memfd takes only KEEP_SIZE (allocate) and KEEP_SIZE | PUNCH_HOLE.
        int rc = Sys.fallocate(g.fd(), allocate ? Sys.FALLOC_FL_KEEP_SIZE : Sys.FALLOC_FL_PUNCH_HOLE | Sys.FALLOC_FL_KEEP_SIZE, offset, length);
        if (rc == 0) {
            synchronized (g.allocated()) {
                g.allocated().set((int) (offset >>> 12), (int) ((offset + length) >>> 12), allocate);
            }
        } else {
            mirrorFailures++;
            // The provider's state is the truth; a mirror that cannot follow is reported, not fatal.
            LOG.warn("KVM: guest_memfd {} of 0x{} bytes at offset 0x{} failed: {}", allocate ? "allocate" : "punch",
                    Long.toHexString(length), Long.toHexString(offset), Sys.name(rc));
        }
    }

    /** guest_memfd calls the kernel refused (each is logged). */
    volatile int mirrorFailures;

    /**
     * Bytes allocated in the guest_memfd of the slot at gpa, as the successful fallocate calls
     * made them (guest_memfd does not report st_blocks), or -1 without one.
     */
    long gmemAllocated(long gpa) {
        for (Gmem g : gmems) {
            if (g.gpa() == gpa) {
                synchronized (g.allocated()) {
                    return (long) g.allocated().cardinality() << 12;
                }
            }
        }
        return -1;
    }

    @Override
    public synchronized KvmVcpu createVcpu(int index, long entry, long startInfo) {
        if (closed) {
            throw new IllegalStateException("KVM VM closed");
        }
        KvmVcpu v = new KvmVcpu(this, vm.createVcpu(index), index, entry, startInfo, cpuid);
        vcpus++;
        return v;
    }

    synchronized void vcpuClosed() {
        vcpus--;
    }

    /** KVM runs guest code from memory directly: there is no decoded code to drop. */
    @Override
    public void memoryWritten(long gpa, long length) {
    }

    /** Closed by its owner after its vCPUs: the VM and its guest_memfds go. Idempotent (fd numbers are reused). */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        onClose.run();
        if (!gmems.isEmpty()) {
            view.removeInvalidationListener(mirror);
        }
        for (Gmem g : gmems) {
            Sys.close(g.fd());
        }
        gmems.clear();
        vm.close();
        kvm.close();
    }
}
