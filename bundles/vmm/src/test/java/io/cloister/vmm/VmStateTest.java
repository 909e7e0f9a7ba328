package io.cloister.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.cpu.Exit;
import io.cloister.api.memory.GuestMemoryControl;
import io.cloister.api.vm.VmState;
import io.cloister.backend.pkvm.PkvmPolicy;
import io.cloister.backend.plain.PlainPolicy;
import io.cloister.vmm.ScriptedEngine.Program;
import io.cloister.vmm.ScriptedEngine.ScriptedVcpu;

/** The VM's life: its states, its policy coming and going, swaps, and what destroy leaves (nothing). */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VmStateTest {
    final Harness h = new Harness();

    @AfterEach
    void close() {
        h.close();
    }

    /** The real pKVM policy, counting the requests it answers and the VMs it releases. */
    static final class CountingPkvm extends PkvmPolicy {
        final AtomicInteger handled = new AtomicInteger();
        final List<String> released = new CopyOnWriteArrayList<>();

        @Override
        public long handle(GuestMemoryControl memory, GuestRequest request) {
            handled.incrementAndGet();
            return super.handle(memory, request);
        }

        @Override
        public void release(String vmName) {
            released.add(vmName);
            super.release(vmName);
        }
    }

    /** Asks the VM to convert one page, from a thread of its own (as a guest request outside a vCPU). */
    static long convert(Vm vm, long gpa, boolean toPrivate) {
        return vm.guestRequest(new GuestRequest.MapGpaRange(gpa, 1, toPrivate ? GuestRequest.MapGpaRange.ATTR_ENCRYPTED : 0));
    }

    @Test
    void createdRunningPausedRunningStopped() throws Exception {
        h.engine.program(0, Program.fed());
        Vm vm = h.create(new PkvmPolicy(), 1);
        assertEquals(VmState.CREATED, vm.state());
        assertEquals("created, waiting for backend 'pkvm'", vm.status());

        vm.offer(h.setup.backend());
        assertEquals(VmState.RUNNING, vm.state());
        assertEquals("running on backend pkvm", vm.status());
        ScriptedVcpu cpu = h.engine.vcpu(0);
        assertTrue(cpu.awaitInside(Harness.DEADLINE_MS), "vCPU 0 runs");

        vm.pause();
        assertEquals(VmState.PAUSED, vm.state());
        assertEquals("paused by request", vm.status());
        // pause returns once the vCPU has left the engine; it waits at the gate and cannot re-enter.
        assertFalse(cpu.inside(), "a paused VM's vCPU is out of the guest");
        Harness.await(() -> cpu.thread.getState() == Thread.State.WAITING, "the vCPU thread to wait at the gate");
        long exits = vm.exits();
        CloisterException e = assertThrows(CloisterException.class, vm::pause);
        assertEquals(Errno.EBUSY, e.errno());
        assertFalse(cpu.inside());
        assertEquals(exits, vm.exits(), "no exit while paused");

        vm.resume();
        assertEquals(VmState.RUNNING, vm.state());
        assertTrue(cpu.awaitInside(Harness.DEADLINE_MS), "the vCPU runs again");
        assertThrows(CloisterException.class, vm::resume);

        vm.stop();
        assertEquals(VmState.STOPPED, vm.state());
        assertEquals("stopped", vm.status());
        assertEquals(0, vm.awaitExit(0));
        cpu.thread.join(Harness.DEADLINE_MS);
        assertFalse(cpu.thread.isAlive(), "the vCPU thread ends with the VM");
        assertEquals(Errno.EBUSY, assertThrows(CloisterException.class, vm::resume).errno());
        assertEquals(Errno.EBUSY, assertThrows(CloisterException.class, () -> vm.switchTo(h.setup.backend())).errno());
        assertTrue(String.join("\n", vm.events()).contains("paused by request"), vm.events().toString());
    }

    /**
     * The guest ends while its policy's bundle is being updated: the VM stays stopped when the
     * policy goes and when it comes back (it paused before, and waited for a guest that had ended).
     */
    @Test
    void aStoppedVmStaysStoppedWhenItsPolicyGoesAndComesBack() throws Exception {
        h.engine.program(0, Program.fed());
        Vm vm = h.create(new PkvmPolicy(), 1);
        vm.offer(h.setup.backend());
        assertTrue(h.engine.vcpu(0).awaitInside(Harness.DEADLINE_MS), "vCPU 0 runs");
        vm.stop();
        assertEquals(VmState.STOPPED, vm.state());
        vm.policyGone(h.setup.backend());
        assertEquals(VmState.STOPPED, vm.state(), vm.status());
        assertEquals("stopped", vm.status());
        vm.offer(h.setup.backend());
        assertEquals(VmState.STOPPED, vm.state(), vm.status());
        assertEquals(0, vm.awaitExit(0));
    }

    /**
     * The policy's service goes (bundle update or uninstall): the VM pauses at a safe point and
     * says why; guest requests wait instead of running without a policy; a successor adopts the
     * memory as it is and gets the waiting request.
     */
    @Test
    void withoutItsPolicyTheVmPausesSayingWhyAndASuccessorAdoptsIt() throws Exception {
        h.engine.program(0, Program.fed());
        CountingPkvm first = new CountingPkvm();
        Vm vm = h.boot(first, 1);
        Backend original = h.setup.backend();
        assertEquals(0, convert(vm, 0x7000, false));
        long privateBefore = vm.privatePages();
        assertEquals(vm.totalPages() - 1, privateBefore);

        vm.policyGone(original);
        assertEquals(VmState.PAUSED, vm.state());
        assertEquals("paused: waiting for backend 'pkvm' (standalone went away)", vm.status());
        assertFalse(h.engine.vcpu(0).inside());

        AtomicLong answer = new AtomicLong(Long.MIN_VALUE);
        Thread request = Thread.ofPlatform().start(() -> answer.set(convert(vm, 0x8000, false)));
        Harness.await(() -> request.getState() == Thread.State.WAITING, "the request to wait at the gate");
        assertEquals(Long.MIN_VALUE, answer.get(), "no request runs without a policy");

        CountingPkvm successor = new CountingPkvm();
        vm.offer(new Backend("pkvm", successor, "pkvm 2.0"));
        assertEquals(VmState.RUNNING, vm.state());
        request.join(Harness.DEADLINE_MS);
        assertEquals(0, answer.get());
        assertEquals(1, successor.handled.get(), "the waiting request went to the successor");
        assertEquals(1, first.handled.get());
        assertEquals(privateBefore - 1, vm.privatePages(), "the successor took the memory as it was");
        assertTrue(h.engine.vcpu(0).awaitInside(Harness.DEADLINE_MS), "the vCPU runs again");
    }

    /** A paused VM whose policy goes stays paused when the successor adopts it. */
    @Test
    void aPausedVmStaysPausedAcrossAPolicyChange() {
        h.engine.program(0, Program.fed());
        Vm vm = h.boot(new PkvmPolicy(), 1);
        vm.pause();
        vm.policyGone(h.setup.backend());
        vm.offer(new Backend("pkvm", new PkvmPolicy(), "pkvm 2.0"));
        assertEquals(VmState.PAUSED, vm.state());
        assertEquals("paused on backend pkvm", vm.status());
    }

    /** A swap the target refuses keeps the old policy, in use, and the VM running. */
    @Test
    void aRefusedSwapKeepsTheOldPolicy() throws Exception {
        h.engine.program(0, Program.fed());
        CountingPkvm pkvm = new CountingPkvm();
        Vm vm = h.boot(pkvm, 1);
        CloisterException e = assertThrows(CloisterException.class,
                () -> vm.switchTo(new Backend("plain", new PlainPolicy(), "plain 1.0"))); // its pages are private
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("VM 't' stays on backend pkvm: backend plain refused it: EINVAL: backend plain cannot run VM 't'"),
                e.getMessage());
        assertEquals("pkvm", vm.backend());
        assertEquals(VmState.RUNNING, vm.state());
        assertEquals(List.of(), pkvm.released, "the old policy keeps the VM");
        assertTrue(h.engine.vcpu(0).awaitInside(Harness.DEADLINE_MS), "the vCPU runs again");
        assertEquals(0, convert(vm, 0x7000, false));
        assertEquals(1, pkvm.handled.get(), "requests still go to the old policy");
        assertEquals(1, vm.swapStats().pauses().length, "the refused swap paused the VM once");
    }

    /** A swap the target accepts moves the VM at a safe point; the old policy releases it. */
    @Test
    void anAcceptedSwapMovesTheVmAndReleasesTheOldPolicy() throws Exception {
        h.engine.program(0, Program.fed());
        CountingPkvm first = new CountingPkvm();
        Vm vm = h.boot(first, 1);
        CountingPkvm second = new CountingPkvm();
        vm.switchTo(new Backend("pkvm-b", second, "pkvm-b 1.0"));
        assertEquals("pkvm-b", vm.backend());
        assertEquals(VmState.RUNNING, vm.state());
        assertEquals(List.of("t"), first.released);
        h.engine.vcpu(0).feed(new Exit.Hypercall(GuestRequest.HC_MAP_GPA_RANGE, 0x7000, 1, 0, 0));
        Harness.await(() -> h.engine.vcpu(0).completions.size() == 1, "the guest's conversion");
        assertEquals(0L, h.engine.vcpu(0).completions.get(0));
        assertEquals(1, second.handled.get());
        assertEquals(0, first.handled.get());
    }

    /** Registers are read at a safe point, and refused where the technology keeps vCPU state from the host. */
    @Test
    void registersAreReadAtASafePointUnlessTheTechnologyProtectsThem() throws Exception {
        h.engine.program(0, Program.fed());
        Vm vm = h.boot(new PlainPolicy(), 1);
        assertTrue(h.engine.vcpu(0).awaitInside(Harness.DEADLINE_MS));
        Map<String, Long> regs = vm.registers();
        assertEquals(h.engine.vcpu(0).entry + vm.exits(), regs.get("rip"));
        assertEquals(VmState.RUNNING, vm.state());
        assertTrue(h.engine.vcpu(0).awaitInside(Harness.DEADLINE_MS), "the vCPU runs again");
        vm.switchTo(new Backend("pkvm", new PkvmPolicy(), "pkvm 1.0")); // plain's pages are shared: pKVM takes them
        assertEquals(Errno.EACCES, assertThrows(CloisterException.class, vm::registers).errno());
    }

    /**
     * Destroy ends the vCPUs and releases the engine's VM, the policy's state and every page, once:
     * the registry's deactivation and the VM's configuration going away may both destroy a VM.
     */
    @Test
    void destroyReleasesEverythingOnce() throws Exception {
        h.engine.program(0, Program.fed());
        CountingPkvm pkvm = new CountingPkvm();
        Vm vm = h.boot(pkvm, 1);
        assertEquals(0, convert(vm, 0x7000, false));
        assertTrue(h.restricted.stats().allocatedPages() > 0);
        vm.destroy();
        vm.destroy();
        assertEquals(1, h.engine.vcpu(0).closes.get(), "the vCPU is closed once");
        assertEquals(VmState.STOPPED, vm.state());
        assertTrue(h.engine.vcpu(0).closed && h.engine.vmClosed, "the engine's vCPU and VM are closed");
        assertEquals(List.of("t"), pkvm.released);
        assertEquals(0, h.restricted.stats().files());
        assertEquals(0, h.restricted.stats().allocatedPages());
        assertEquals(0, h.restricted.stats().bindings());
    }

    /** A VM whose engine is missing waits, saying why, and boots when one appears. */
    @Test
    void aVmWithoutAnEngineWaitsAndBootsWhenOneAppears() throws Exception {
        ScriptedEngine engine = new ScriptedEngine().program(0, Program.of(new Exit.Io(0xf4, 1, true, 0)));
        Backend plain = new Backend("plain", new PlainPolicy(), "plain 1.0");
        class Late implements Platform {
            volatile io.cloister.api.cpu.CpuEngine present;

            @Override
            public Backend backend(String name) {
                return plain;
            }

            @Override
            public io.cloister.api.cpu.CpuEngine engine(String setting) {
                return present;
            }

            @Override
            public String engineMissing(String setting) {
                return "none in this test";
            }

            @Override
            public io.cloister.api.bus.DeviceBusFactory busFactory() {
                return h.busFactory;
            }

            @Override
            public List<Device> devices() {
                return List.of(new Device("isa-debug-exit", new Platform.Instances() {
                    public io.cloister.api.device.BusDevice get() {
                        return new io.cloister.devices.DebugExit();
                    }

                    public void release(io.cloister.api.device.BusDevice d) {
                    }
                }, "devices"));
            }

            @Override
            public java.io.OutputStream openConsole(String spec) {
                return h.console;
            }
        }
        Late platform = new Late();
        Vm vm = new Vm(new Vm.Spec("late", Harness.MEMORY, "plain", "scripted", false, true,
                io.cloister.testkit.GuestImages.of("hello.elf").toString(), "", 1, "stdout"),
                new io.cloister.memory.MemoryManagerImpl(), h.restricted, platform);
        h.vm = vm;
        vm.offer(plain);
        assertEquals(VmState.PAUSED, vm.state());
        assertEquals("waiting for a CPU engine (none in this test)", vm.status());
        assertEquals("none in this test", vm.engineMissing());
        platform.present = engine;
        vm.engineAvailable();
        assertEquals(0, h.awaitExit(), vm.status());
        assertEquals("guest exited with status 0", vm.status());
    }
}
