package io.cloister.cpu.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

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
    final int kvmFd;
    final int vmFd;
    final int runSize;
    private final MemorySegment cpuid;
    private final Arena arena = Arena.ofShared();

    KvmVm(GuestView view, Runnable onClose) {
        this.view = view;
        this.onClose = onClose;
        kvmFd = Sys.open(KvmEngine.DEVICE, Sys.O_RDWR | Sys.O_CLOEXEC);
        MemorySegment st = Sys.callState(arena);
        vmFd = Sys.ioctl(kvmFd, Kvm.CREATE_VM, 0, "KVM_CREATE_VM", st);
        runSize = Sys.ioctl(kvmFd, Kvm.GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE", st);
        Sys.ioctl(vmFd, Kvm.SET_TSS_ADDR, 0xfffbd000L, "KVM_SET_TSS_ADDR", st);
        // MAP_GPA_RANGE hypercalls exit to us instead of being refused by KVM.
        MemorySegment cap = arena.allocate(104);
        cap.set(ValueLayout.JAVA_INT, 0, (int) Kvm.CAP_EXIT_HYPERCALL);
        cap.set(ValueLayout.JAVA_LONG, 8, 1L << 12);
        Sys.ioctl(vmFd, Kvm.ENABLE_CAP, cap, "KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL)", st);
        boolean gmemCap = Sys.ioctl(kvmFd, Kvm.CHECK_EXTENSION, Kvm.CAP_GUEST_MEMFD, "KVM_CHECK_EXTENSION(GUEST_MEMFD)", st) > 0;
        int region = 0;
        for (MemSlot slot : view.table().slots()) {
            long addr = KvmEngine.slotAddress(view, slot);
            if (addr == 0) {
                continue; // an alias of restricted memory: MMIO for KVM, answered by Cloister
            }
            MemorySegment r = arena.allocate(160);
            int flags = slot.readOnly() ? Kvm.MEM_READONLY : 0;
            if (gmemCap && slot.backing() instanceof Backing.Restricted && !slot.readOnly()) {
                MemorySegment req = arena.allocate(64);
                req.set(ValueLayout.JAVA_LONG, 0, slot.size());
                int gfd = Sys.ioctl(vmFd, Kvm.CREATE_GUEST_MEMFD, req, "KVM_CREATE_GUEST_MEMFD(slot " + slot.id() + ")", st);
                gmems.add(new Gmem(gfd, slot.gpa(), slot.size(), new java.util.BitSet()));
                flags |= Kvm.MEM_GUEST_MEMFD;
                r.set(ValueLayout.JAVA_LONG, 32, 0L); // guest_memfd_offset
                r.set(ValueLayout.JAVA_INT, 40, gfd);
            }
            r.set(ValueLayout.JAVA_INT, 0, region++);
            r.set(ValueLayout.JAVA_INT, 4, flags);
            r.set(ValueLayout.JAVA_LONG, 8, slot.gpa());
            r.set(ValueLayout.JAVA_LONG, 16, slot.size());
            r.set(ValueLayout.JAVA_LONG, 24, addr);
            Sys.ioctl(vmFd, Kvm.SET_USER_MEMORY_REGION2, r, "KVM_SET_USER_MEMORY_REGION2(slot " + slot.id() + ")", st);
        }
        if (!gmems.isEmpty()) {
            view.addInvalidationListener(mirror);
            for (Gmem g : gmems) {
                syncPrivatePages(g);
            }
            LOG.info("KVM: {} restricted slot(s) bound to guest_memfd; {}", gmems.size(), Kvm.memoryMode());
        }
        // The CPUID KVM supports, as is: the guest needs long mode and NX from it.
        int entries = 256;
        cpuid = arena.allocate(8 + entries * 40L);
        cpuid.set(ValueLayout.JAVA_INT, 0, entries);
        Sys.ioctl(kvmFd, Kvm.GET_SUPPORTED_CPUID, cpuid, "KVM_GET_SUPPORTED_CPUID", st);
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
        KvmVcpu v = new KvmVcpu(this, index, entry, startInfo, cpuid);
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
        Sys.close(vmFd);
        Sys.close(kvmFd);
    }
}
