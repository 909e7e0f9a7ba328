package io.cloister.cpu.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;


import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import io.cloister.vmm.StandaloneVm;

/**
 * The same guests on /dev/kvm as on the emulator, with the same output. Skipped, with the reason,
 * where KVM is not usable. The KVM on this machine kind is a slow nested one: the guests are tiny.
 */
class KvmEngineTest {
    static final KvmEngine KVM = new KvmEngine();

    /** Each test, not the class, is skipped with the reason, so the report lists them. */
    @BeforeEach
    void needKvm() {
        String why = KVM.unavailableReason();
        assumeTrue(why == null, "KVM unavailable: " + why);
    }

    /**
     * hello (boot to long mode, port IO, debug exit). The workload and exceptions guests stop this
     * machine kind's KVM with KVM_EXIT_INTERNAL_ERROR (emulation) at popcnt and int3, instructions
     * its software KVM does not emulate, and the demo guest does not come back from its first
     * vmcall there: both are open work for the KVM engine.
     */
    /** A guest that never exits is still kicked out of KVM_RUN by requestExit (signal + immediate_exit). */
    @org.junit.jupiter.api.Test
    void aSpinningGuestIsKickedOut() throws Exception {
        try (io.cloister.testkit.TestGuest g = new io.cloister.testkit.TestGuest("spin", 1 << 20,
                io.cloister.api.restricted.PageState.SHARED)) {
            g.memory.write(0x1000, java.lang.foreign.MemorySegment.ofArray(new byte[] {(byte) 0xeb, (byte) 0xfe})); // jmp .
            try (io.cloister.api.cpu.EngineVm vm = KVM.createVm(g.view, io.cloister.api.backend.CocoCpu.NONE);
                    io.cloister.api.cpu.Vcpu cpu = vm.createVcpu(0, 0x1000, 0)) {
                var exit = java.util.concurrent.CompletableFuture.supplyAsync(cpu::run);
                Thread.sleep(200);
                assertEquals(false, exit.isDone(), "the guest spins in KVM_RUN");
                long t0 = System.nanoTime();
                cpu.requestExit();
                var e = exit.get(5, java.util.concurrent.TimeUnit.SECONDS);
                assertEquals(io.cloister.api.cpu.Exit.Interrupted.class, e.getClass());
                System.out.printf("kicked out of KVM_RUN in %.2f ms%n", (System.nanoTime() - t0) / 1e6);
            }
        }
    }

    /**
     * Restricted RAM is bound to a real guest_memfd whose allocation follows the provider's
     * conversions: private pages allocated, shared or punched ones punched, every call accepted by
     * the kernel.
     */
    @org.junit.jupiter.api.Test
    void guestMemfdFollowsConversions() throws Exception {
        try (io.cloister.testkit.TestGuest g = new io.cloister.testkit.TestGuest("gmem", 1 << 20,
                io.cloister.api.restricted.PageState.PRIVATE)) {
            KvmVm vm = (KvmVm) KVM.createVm(g.view, io.cloister.api.backend.CocoCpu.NONE);
            io.cloister.api.cpu.Vcpu cpu = vm.createVcpu(0, 0x1000, 0);
            assertEquals(1 << 20, vm.gmemAllocated(0), "all private at start");
            g.ram.convert(0x4000, 0x2000, io.cloister.api.restricted.PageState.SHARED, io.cloister.api.restricted.ContentRule.DESTROY);
            assertEquals((1 << 20) - 0x2000, vm.gmemAllocated(0), "two pages shared: punched in the guest_memfd");
            g.ram.convert(0x4000, 0x1000, io.cloister.api.restricted.PageState.PRIVATE, io.cloister.api.restricted.ContentRule.DESTROY);
            assertEquals((1 << 20) - 0x1000, vm.gmemAllocated(0), "one page private again: allocated");
            g.ram.punch(0x8000, 0x1000);
            assertEquals((1 << 20) - 0x2000, vm.gmemAllocated(0), "punched in the provider: punched in the kernel");
            assertEquals(0, vm.mirrorFailures, "the kernel accepted every guest_memfd call");
            cpu.close();
            vm.close();
            assertEquals(0, KVM.openVms(), "closed: the VM and its guest_memfd are gone");
        }
    }

    /**
     * What this host's KVM cannot do, found by a few-instruction guest each: null if it can. The KVM
     * of the machine kind Cloister is developed on (nested, software) never leaves the guest on
     * vmcall (it even rewrites vmmcall into vmcall, then stays at it), and stops with an emulation
     * failure at popcnt and int3; guests that need those are skipped there, with this reason.
     */
    static synchronized String cannot(String what) throws Exception {
        if (!PROBED.containsKey(what)) {
            PROBED.put(what, probe(what));
        }
        return PROBED.get(what);
    }

    private static final java.util.Map<String, String> PROBED = new java.util.HashMap<>();

    /** mov eax, 12 (KVM_HC_MAP_GPA_RANGE); mov ebx, 0x2000; mov ecx, 1; xor edx, edx; vmcall; hlt */
    private static final byte[] MAP_GPA_RANGE_VMCALL = {(byte) 0xb8, 12, 0, 0, 0, (byte) 0xbb, 0, 0x20, 0, 0, (byte) 0xb9, 1, 0, 0, 0, 0x31,
        (byte) 0xd2, 0x0f, 0x01, (byte) 0xc1, (byte) 0xf4};

    private static String probe(String what) throws Exception {
        byte[] code;
        Class<?> expected;
        switch (what) {
            case "vmcall" -> {
                code = MAP_GPA_RANGE_VMCALL;
                expected = io.cloister.api.cpu.Exit.Hypercall.class;
            }
            case "popcnt" -> {
                code = new byte[] {(byte) 0xf3, 0x0f, (byte) 0xb8, (byte) 0xc0, (byte) 0xf4};
                expected = io.cloister.api.cpu.Exit.Halt.class;
            }
            default -> { // int3 without an IDT: a triple fault
                code = new byte[] {(byte) 0xcc, (byte) 0xf4};
                expected = io.cloister.api.cpu.Exit.Shutdown.class;
            }
        }
        try (io.cloister.testkit.TestGuest g = new io.cloister.testkit.TestGuest("probe", 1 << 20,
                io.cloister.api.restricted.PageState.SHARED)) {
            g.memory.write(0x1000, java.lang.foreign.MemorySegment.ofArray(code));
            try (io.cloister.api.cpu.EngineVm vm = KVM.createVm(g.view, io.cloister.api.backend.CocoCpu.NONE);
                    io.cloister.api.cpu.Vcpu cpu = vm.createVcpu(0, 0x1000, 0)) {
                var run = java.util.concurrent.CompletableFuture.supplyAsync(cpu::run);
                io.cloister.api.cpu.Exit e;
                try {
                    e = run.get(2, java.util.concurrent.TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException t) {
                    cpu.requestExit();
                    run.get(5, java.util.concurrent.TimeUnit.SECONDS);
                    return "this host's KVM never exits on " + what + " (the guest stays at it)";
                }
                return expected.isInstance(e) ? null : "this host's KVM answers " + what + " with " + e;
            }
        }
    }

    /** A vmcall reaches the VMM as KVM_EXIT_HYPERCALL with its arguments; the answer lands in rax. */
    @org.junit.jupiter.api.Test
    void hypercallsReachTheVmm() throws Exception {
        String why = cannot("vmcall");
        assumeTrue(why == null, why);
        try (io.cloister.testkit.TestGuest g = new io.cloister.testkit.TestGuest("hc", 1 << 20,
                io.cloister.api.restricted.PageState.SHARED)) {
            g.memory.write(0x1000, java.lang.foreign.MemorySegment.ofArray(MAP_GPA_RANGE_VMCALL));
            try (io.cloister.api.cpu.EngineVm vm = KVM.createVm(g.view, io.cloister.api.backend.CocoCpu.NONE);
                    io.cloister.api.cpu.Vcpu cpu = vm.createVcpu(0, 0x1000, 0)) {
                assertEquals(new io.cloister.api.cpu.Exit.Hypercall(12, 0x2000, 1, 0, 0), cpu.run());
                cpu.complete(-22);
                assertEquals(io.cloister.api.cpu.Exit.Halt.class, cpu.run().getClass());
                assertEquals(-22L, (long) (int) (long) cpu.registers().get("rax"));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"hello.elf,'',", "demo.elf,'',vmcall", "workload.elf,iterations=2,popcnt", "exceptions.elf,'',int3"})
    void sameOutputAsTheEmulator(String guest, String cmdline, String needs) throws Exception {
        if (needs != null) {
            String why = cannot(needs);
            assumeTrue(why == null, guest + " needs " + needs + ": " + why);
        }
        StandaloneVm.Result kvm = run(KVM, guest, cmdline);
        io.cloister.api.cpu.CpuEngine emulator = (io.cloister.api.cpu.CpuEngine) Class.forName("io.cloister.cpu.x86.X86Engine")
                .getConstructor().newInstance();
        StandaloneVm.Result emu = run(emulator, guest, cmdline);
        assertEquals(emu.console(), kvm.console(), kvm.status());
        assertEquals(emu.status(), kvm.status());
        assertEquals(emu.exitCode(), kvm.exitCode(), kvm.status());
    }

    /** A guest of guests/bin through the VMM's own exit loop, with the core devices and no CoCo. */
    static StandaloneVm.Result run(io.cloister.api.cpu.CpuEngine engine, String guest, String cmdline) throws InterruptedException {
        try (io.cloister.devices.BusFactory bus = new io.cloister.devices.BusFactory(250)) {
            return new StandaloneVm(engine, new io.cloister.backend.plain.PlainPolicy(), new io.cloister.memory.MemoryManagerImpl(),
                    new io.cloister.restrictedmem.RestrictedMemory(), bus, java.util.List.of(io.cloister.devices.Uart16550::new,
                            io.cloister.devices.DebugExit::new, io.cloister.devices.Hpet::new))
                    .run(io.cloister.testkit.GuestImages.of(guest), 16 << 20, cmdline);
        }
    }
}
