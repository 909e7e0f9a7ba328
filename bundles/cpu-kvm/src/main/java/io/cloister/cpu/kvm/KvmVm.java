package io.cloister.cpu.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.cloister.api.memory.GuestView;
import io.cloister.api.memory.MemSlot;

/** One KVM VM for one guest view: its fd, memory regions and CPUID. */
final class KvmVm {
    private final GuestView view;
    final int kvmFd;
    final int vmFd;
    final int runSize;
    private final MemorySegment cpuid;
    private final Arena arena = Arena.ofShared();

    KvmVm(GuestView view) {
        this.view = view;
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
        int region = 0;
        for (MemSlot slot : view.table().slots()) {
            long addr = KvmEngine.slotAddress(view, slot);
            if (addr == 0) {
                continue; // an alias of restricted memory: MMIO for KVM, answered by Cloister
            }
            MemorySegment r = arena.allocate(160);
            r.set(ValueLayout.JAVA_INT, 0, region++);
            r.set(ValueLayout.JAVA_INT, 4, slot.readOnly() ? Kvm.MEM_READONLY : 0);
            r.set(ValueLayout.JAVA_LONG, 8, slot.gpa());
            r.set(ValueLayout.JAVA_LONG, 16, slot.size());
            r.set(ValueLayout.JAVA_LONG, 24, addr);
            Sys.ioctl(vmFd, Kvm.SET_USER_MEMORY_REGION2, r, "KVM_SET_USER_MEMORY_REGION2(slot " + slot.id() + ")", st);
        }
        // The CPUID KVM supports, as is: the guest needs long mode and NX from it.
        int entries = 256;
        cpuid = arena.allocate(8 + entries * 40L);
        cpuid.set(ValueLayout.JAVA_INT, 0, entries);
        Sys.ioctl(kvmFd, Kvm.GET_SUPPORTED_CPUID, cpuid, "KVM_GET_SUPPORTED_CPUID", st);
    }

    KvmVcpu createVcpu(int index, long entry, long startInfo) {
        return new KvmVcpu(this, index, entry, startInfo, cpuid);
    }

    GuestView view() {
        return view;
    }

    void close() {
        Sys.close(vmFd);
        Sys.close(kvmFd);
    }
}
