package io.cloister.cpu.kvm;

import io.cloister.cpu.kvm.Kvm.Cap;
import io.cloister.cpu.kvm.Kvm.Ioctl;

/** /dev/kvm and its system ioctls (one method each), as rust-vmm's kvm-ioctls has Kvm. */
final class KvmSystem extends KvmFd {
    static final String DEVICE = "/dev/kvm";

    private KvmSystem(int fd) {
        super(fd);
    }

    /** Opens {@code device} (close-on-exec); fails naming the device and errno. */
    static KvmSystem open(String device) {
        return new KvmSystem(Sys.open(device, Sys.O_RDWR | Sys.O_CLOEXEC));
    }

    static KvmSystem open() {
        return open(DEVICE);
    }

    /** KVM_GET_API_VERSION: 12 on every kernel since 2.6.22. */
    int apiVersion() {
        return ioctl(Ioctl.KVM_GET_API_VERSION, 0, "");
    }

    /** KVM_CHECK_EXTENSION: 0 if absent, else positive (some capabilities answer a number). */
    int checkExtension(Cap cap) {
        return ioctl(Ioctl.KVM_CHECK_EXTENSION, cap.number, "(" + cap.name() + ")");
    }

    /** KVM_GET_VCPU_MMAP_SIZE: the bytes of each vCPU's kvm_run mapping (kvm_run and the pages after it). */
    int vcpuMmapSize() {
        return ioctl(Ioctl.KVM_GET_VCPU_MMAP_SIZE, 0, "");
    }

    /** KVM_CREATE_VM of the default machine type. */
    VmFd createVm() {
        int runSize = vcpuMmapSize();
        return new VmFd(ioctl(Ioctl.KVM_CREATE_VM, 0, ""), runSize);
    }

    /** KVM_GET_SUPPORTED_CPUID: the CPUID leaves KVM can give a guest, at most {@code max} of them. */
    Cpuid supportedCpuid(int max) {
        Cpuid cpuid = new Cpuid(max);
        ioctl(Ioctl.KVM_GET_SUPPORTED_CPUID, cpuid.segment, "(" + max + " entries)");
        return cpuid;
    }

    /** What this kernel offers for private memory, for the log. */
    String memoryMode() {
        int gmem = checkExtension(Cap.KVM_CAP_GUEST_MEMFD);
        int attrs = checkExtension(Cap.KVM_CAP_MEMORY_ATTRIBUTES);
        return attrs == 0
                ? "guest_memfd " + (gmem > 0 ? "present" : "absent") + ", no KVM_CAP_MEMORY_ATTRIBUTES: private/shared enforced by Cloister in userspace"
                : "KVM_CAP_MEMORY_ATTRIBUTES=" + attrs + ": private memory could be left to KVM (Cloister still enforces it in userspace)";
    }
}
