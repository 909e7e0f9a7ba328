package io.cloister.cpu.kvm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * The typed layer without /dev/kvm: structs land at the kernel's offsets (written out here), the
 * vCPU's boot state is byte for byte what the engine wrote before, and every ioctl that fails names
 * itself, its argument and the errno (on /dev/null and /dev/zero, which know no KVM ioctl).
 */
class KvmTypedCallsTest {
    @Test
    void regsAtTheKernelsOffsets() {
        Regs r = new Regs().rax(1).rbx(2).rip(0x100000).rflags(2);
        assertEquals(1, r.segment.get(ValueLayout.JAVA_LONG, 0));
        assertEquals(2, r.segment.get(ValueLayout.JAVA_LONG, 8));
        assertEquals(0x100000, r.segment.get(ValueLayout.JAVA_LONG, 128));
        assertEquals(2, r.segment.get(ValueLayout.JAVA_LONG, 136));
        r.segment.set(ValueLayout.JAVA_LONG, 6 * 8, 0x7000); // rsp
        assertEquals(List.of("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
                "r15", "rip", "rflags"), List.copyOf(r.asMap().keySet()));
        assertEquals(0x7000L, r.asMap().get("rsp"));
        assertEquals(0x100000L, r.asMap().get("rip"));
    }

    /** The engine's PVH entry state, as it wrote it with byte offsets before the layouts. */
    private static void oldPvhEntry(MemorySegment sregs) {
        oldSegment(sregs, 0, 0xffffffff, 0x08, 0xb, false);
        for (long seg : new long[] {24, 48, 72, 96, 120}) {
            oldSegment(sregs, seg, 0xffffffff, 0x10, 0x3, false);
        }
        oldSegment(sregs, 144, 0x67, 0x18, 0xb, true);
        oldSegment(sregs, 168, 0xffff, 0, 0x2, true);
        sregs.set(ValueLayout.JAVA_LONG_UNALIGNED, 224, 0x11);
        sregs.set(ValueLayout.JAVA_LONG_UNALIGNED, 240, 0);
        sregs.set(ValueLayout.JAVA_LONG_UNALIGNED, 248, 0);
        sregs.set(ValueLayout.JAVA_LONG_UNALIGNED, 264, 0);
    }

    private static void oldSegment(MemorySegment s, long off, int limit, int selector, int type, boolean system) {
        s.set(ValueLayout.JAVA_LONG_UNALIGNED, off, 0);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, off + 8, limit);
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, off + 12, (short) selector);
        s.set(ValueLayout.JAVA_BYTE, off + 14, (byte) type);
        s.set(ValueLayout.JAVA_BYTE, off + 15, (byte) 1);
        s.set(ValueLayout.JAVA_BYTE, off + 16, (byte) 0);
        s.set(ValueLayout.JAVA_BYTE, off + 17, (byte) (system ? 0 : 1));
        s.set(ValueLayout.JAVA_BYTE, off + 18, (byte) (system ? 0 : 1));
        s.set(ValueLayout.JAVA_BYTE, off + 19, (byte) 0);
        s.set(ValueLayout.JAVA_BYTE, off + 20, (byte) (system ? 0 : 1));
        s.set(ValueLayout.JAVA_BYTE, off + 21, (byte) 0);
        s.set(ValueLayout.JAVA_BYTE, off + 22, (byte) 0);
    }

    @Test
    void pvhEntryStateIsTheBytesTheEngineWroteBefore() {
        Sregs typed = new Sregs();
        typed.segment.fill((byte) 0x5a); // what KVM_GET_SREGS gave: kept where the entry state says nothing
        MemorySegment old = Arena.ofAuto().allocate(312).fill((byte) 0x5a);
        oldPvhEntry(old);
        KvmVcpu.pvhEntry(typed);
        assertArrayEquals(old.toArray(ValueLayout.JAVA_BYTE), typed.segment.toArray(ValueLayout.JAVA_BYTE));
        assertEquals(new Sregs.Segment(0, 0xffffffff, 0x08, 0xb, true, 0, true, true, false, true, false, false), typed.get(Sregs.Seg.CS));
        assertEquals(new Sregs.Segment(0, 0x67, 0x18, 0xb, true, 0, false, false, false, false, false, false), typed.get(Sregs.Seg.TR));
        assertEquals(new Sregs.Dtable(0x5a5a5a5a5a5a5a5aL, 0x5a5a), typed.gdt());
        assertEquals(0x11, typed.cr0());
    }

    @Test
    void cpuidEntriesAtTheKernelsOffsets() {
        Cpuid c = new Cpuid(4);
        assertEquals(4, c.nent(), "KVM_GET_SUPPORTED_CPUID is told the room there is");
        assertEquals(8 + 4 * 40, c.segment.byteSize());
        c.segment.set(ValueLayout.JAVA_INT, 0, 0);
        c.set(1, new Cpuid.Entry(0x80000001, 0, 0, 1, 2, 3, 0x20100800));
        assertEquals(2, c.nent());
        assertEquals(0x80000001, c.segment.get(ValueLayout.JAVA_INT, 8 + 40));
        assertEquals(0x20100800, c.segment.get(ValueLayout.JAVA_INT, 8 + 40 + 24), "edx");
        assertEquals(new Cpuid.Entry(0x80000001, 0, 0, 1, 2, 3, 0x20100800), c.entries().get(1));
        assertThrows(IndexOutOfBoundsException.class, () -> c.entry(4));
    }

    @Test
    void systemIoctlsNameThemselvesAndTheErrno() {
        try (KvmSystem notKvm = KvmSystem.open("/dev/null")) {
            assertEquals("KVM_GET_API_VERSION failed: errno 25 (ENOTTY)",
                    assertThrows(Sys.SysException.class, notKvm::apiVersion).getMessage());
            assertEquals("KVM_CHECK_EXTENSION(KVM_CAP_GUEST_MEMFD) failed: errno 25 (ENOTTY)",
                    assertThrows(Sys.SysException.class, () -> notKvm.checkExtension(Kvm.Cap.KVM_CAP_GUEST_MEMFD)).getMessage());
            assertEquals("KVM_GET_VCPU_MMAP_SIZE failed: errno 25 (ENOTTY)",
                    assertThrows(Sys.SysException.class, notKvm::createVm).getMessage());
            assertEquals("KVM_GET_SUPPORTED_CPUID(256 entries) failed: errno 25 (ENOTTY)",
                    assertThrows(Sys.SysException.class, () -> notKvm.supportedCpuid(256)).getMessage());
        }
        assertEquals("open(/dev/no-such-kvm) failed: errno 2 (ENOENT)",
                assertThrows(Sys.SysException.class, () -> KvmSystem.open("/dev/no-such-kvm")).getMessage());
    }

    @Test
    void vmIoctlsNameThemselvesTheirArgumentAndTheErrno() {
        try (VmFd vm = new VmFd(Sys.open("/dev/null", Sys.O_RDWR | Sys.O_CLOEXEC), 3 * 4096)) {
            assertEquals("KVM_SET_USER_MEMORY_REGION2(slot 1: 0x2000 bytes at 0x100000) failed: errno 25 (ENOTTY)",
                    assertThrows(Sys.SysException.class,
                            () -> vm.setUserMemoryRegion2(new VmFd.MemoryRegion2(1, 0, 0x100000, 0x2000, 0x7f0000000000L))).getMessage());
            assertEquals("KVM_CREATE_GUEST_MEMFD(0x1000 bytes) failed: errno 25 (ENOTTY)",
                    assertThrows(Sys.SysException.class, () -> vm.createGuestMemfd(0x1000, 0)).getMessage());
            assertEquals("KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL) failed: errno 25 (ENOTTY)",
                    assertThrows(Sys.SysException.class, () -> vm.enableCap(Kvm.Cap.KVM_CAP_EXIT_HYPERCALL, 1 << 12)).getMessage());
            assertEquals("KVM_SET_TSS_ADDR(0xfffbd000) failed: errno 25 (ENOTTY)",
                    assertThrows(Sys.SysException.class, () -> vm.setTssAddr(0xfffbd000L)).getMessage());
            assertEquals("KVM_CREATE_VCPU(2) failed: errno 25 (ENOTTY)",
                    assertThrows(Sys.SysException.class, () -> vm.createVcpu(2)).getMessage());
            assertThrows(IllegalArgumentException.class, () -> vm.enableCap(Kvm.Cap.KVM_CAP_EXIT_HYPERCALL, 1, 2, 3, 4, 5));
        }
    }

    @Test
    void vcpuIoctlsNameThemselvesAndCloseUnmapsKvmRun() {
        // /dev/zero maps like a vCPU fd, and knows no ioctl either
        VcpuFd vcpu = new VcpuFd(Sys.open("/dev/zero", Sys.O_RDWR | Sys.O_CLOEXEC), 3 * 4096);
        assertEquals("KVM_RUN failed: errno 25 (ENOTTY)", assertThrows(Sys.SysException.class, vcpu::run).getMessage());
        assertEquals("KVM_GET_REGS failed: errno 25 (ENOTTY)", assertThrows(Sys.SysException.class, vcpu::getRegs).getMessage());
        assertEquals("KVM_SET_SREGS failed: errno 25 (ENOTTY)",
                assertThrows(Sys.SysException.class, () -> vcpu.setSregs(new Sregs())).getMessage());
        assertEquals("KVM_SET_CPUID2(3 entries) failed: errno 25 (ENOTTY)",
                assertThrows(Sys.SysException.class, () -> vcpu.setCpuid2(new Cpuid(3))).getMessage());
        vcpu.kvmRun.immediateExit(true);
        vcpu.close();
        assertThrows(IllegalStateException.class, () -> vcpu.kvmRun.immediateExit(true), "unmapped: refused, not a crash");
        vcpu.close(); // a second close closes nothing
    }

    @Test
    void anIoctlGetsTheStructItsNumberEncodes() {
        try (KvmFd fd = new KvmFd(Sys.open("/dev/null", Sys.O_RDWR | Sys.O_CLOEXEC)) {
        }) {
            MemorySegment small = Arena.ofAuto().allocate(100);
            assertThrows(IllegalArgumentException.class, () -> fd.ioctl(Kvm.Ioctl.KVM_SET_REGS, small, ""), "kvm_regs is 144 bytes");
            assertThrows(IllegalArgumentException.class, () -> fd.ioctl(Kvm.Ioctl.KVM_GET_REGS, 0, ""), "a struct, not a number");
            assertThrows(IllegalArgumentException.class, () -> fd.ioctl(Kvm.Ioctl.KVM_RUN, small, ""), "a number, not a struct");
        }
    }
}
