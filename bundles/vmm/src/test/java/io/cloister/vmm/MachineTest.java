package io.cloister.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.cpu.Exit;
import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.Space;
import io.cloister.api.restricted.PageState;
import io.cloister.api.vm.VmState;
import io.cloister.backend.pkvm.PkvmPolicy;
import io.cloister.backend.plain.PlainPolicy;
import io.cloister.vmm.ScriptedEngine.Program;

/** Machine's exit dispatch, one exit kind at a time, on a scripted engine with the real bus, devices and policies. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MachineTest {
    static final long START = Machine.HC_START_VCPU;
    static final long MAP = GuestRequest.HC_MAP_GPA_RANGE;
    final Harness h = new Harness();

    @AfterEach
    void close() {
        h.close();
    }

    static Exit.Io out(int port, long value) {
        return new Exit.Io(port, 1, true, value);
    }

    static Exit.Io in(int port) {
        return new Exit.Io(port, 1, false, 0);
    }

    static Exit.Hypercall hc(long nr, long a0, long a1, long a2) {
        return new Exit.Hypercall(nr, a0, a1, a2, 0);
    }

    @Test
    void portAndMmioAccessesGoToTheBusAndTheDebugExitEndsTheVmWithItsValue() throws Exception {
        h.engine.program(0, Program.of(out(0x3f8, 'o'), out(0x3f8, 'k'), in(0x3fd), // UART data, then LSR
                new Exit.Mmio(0xfed00004L, 4, false, 0), // HPET: counter period in fs
                new Exit.Mmio(0xd000_0000L, 4, false, 0), // nothing there
                in(0x80), // nor here
                out(0xf4, 3))); // isa-debug-exit
        Vm vm = h.boot(new PlainPolicy(), 1);
        assertEquals(3, h.awaitExit());
        assertEquals(VmState.STOPPED, vm.state());
        assertEquals("guest exited with status 3", vm.status());
        assertEquals("ok", h.console());
        assertEquals(List.of(0x60L, 100_000_000L, 0xffff_ffffL, 0xffL), h.engine.vcpu(0).completions);
        assertEquals(7, vm.exits());
        assertEquals(7, vm.instructions());
    }

    @Test
    void hypercallsAndCocoRequestsGoToThePolicyOrAreUnknown() throws Exception {
        List<PageState> seen = new ArrayList<>();
        h.engine.program(0, (cpu, step) -> switch (step) {
            case 0 -> hc(MAP, 0x1000, 2, 0); // pages 1-2 to shared
            case 1 -> {
                seen.add(h.vm.guestView().state(0x1000));
                seen.add(h.vm.guestView().state(0x2000));
                seen.add(h.vm.guestView().state(0x3000));
                yield hc(0x99, 1, 2, 3); // no such hypercall
            }
            case 2 -> new Exit.Coco(new GuestRequest.PkvmUnshare(0x1000, 2)); // back to private
            case 3 -> hc(MAP, 0x1000, 0, 0); // no pages: EINVAL from the request itself
            case 4 -> hc(MAP, 0x1000, 1, 1L << 7); // an unknown attribute bit
            default -> out(0xf4, 0);
        });
        Vm vm = h.boot(new PkvmPolicy(), 1);
        long all = vm.totalPages();
        assertEquals(0, h.awaitExit(), vm.status());
        assertEquals(List.of(0L, Machine.KVM_ENOSYS, 0L, -22L, -22L), h.engine.vcpu(0).completions);
        assertEquals(List.of(PageState.SHARED, PageState.SHARED, PageState.PRIVATE), seen);
        assertEquals(all, vm.privatePages(), "unshared again");
        assertEquals(4, vm.machine().hypercalls.get(), "Coco requests are no hypercalls");
    }

    @Test
    void startVcpuStartsEachVcpuOnceAndRefusesBadArguments() throws Exception {
        h.engine.program(0, Program.of(
                hc(START, 1, 0x2000, 0xabc), // 0
                hc(START, 1, 0x3000, 0), // -EEXIST: vCPU 1 runs already
                hc(START, 3, 0x2000, 0), // -EINVAL: the VM has vCPUs 0-2
                hc(START, 0, 0x2000, 0), // -EINVAL: vCPU 0 is the boot vCPU
                hc(START, -1, 0x2000, 0), // -EINVAL
                hc(START, 2, 1L << 32, 0), // -EINVAL: a 32-bit entry
                new Exit.Halt()));
        h.engine.program(1, Program.of(out(0x3f8, '1'), new Exit.Halt()));
        Vm vm = h.boot(new PlainPolicy(), 3);
        assertEquals(0, h.awaitExit(), vm.status());
        assertEquals(List.of(0L, -17L, -22L, -22L, -22L, -22L), h.engine.vcpu(0).completions);
        ScriptedEngine.ScriptedVcpu one = h.engine.vcpu(1);
        assertEquals(0x2000, one.entry);
        assertEquals(0xabc, one.startInfo);
        assertEquals(null, h.engine.vcpu(2), "never started");
        assertEquals(2, vm.startedVcpus());
        assertEquals("1", h.console());
        assertEquals("all vCPUs halted", vm.status());
        assertTrue(vm.events().stream().anyMatch(e -> e.endsWith("vCPU 1 started at 0x2000")), vm.events().toString());
    }

    /** One vCPU halting ends only itself; the VM ends when the last one halts. */
    @Test
    void theVmEndsWhenItsLastVcpuHalts() throws Exception {
        h.engine.program(0, Program.of(hc(START, 1, 0x2000, 0), new Exit.Halt()));
        h.engine.program(1, (cpu, step) -> switch (step) {
            case 0 -> {
                h.engine.vcpu(0).thread.join(Harness.DEADLINE_MS); // vCPU 0 has halted and its thread ended
                yield out(0x3f8, 'a');
            }
            case 1 -> out(0x3f8, 'b');
            default -> new Exit.Halt();
        });
        Vm vm = h.boot(new PlainPolicy(), 2);
        assertEquals(0, h.awaitExit());
        assertEquals("ab", h.console(), "vCPU 1 ran on after vCPU 0 halted");
        assertEquals("all vCPUs halted", vm.status());
        assertEquals(VmState.STOPPED, vm.state());
        assertFalse(h.engine.vcpu(0).thread.isAlive());
    }

    @Test
    void aSingleVcpuThatHaltsEndsTheVm() throws Exception {
        h.engine.program(0, Program.of(new Exit.Halt()));
        Vm vm = h.boot(new PlainPolicy(), 1);
        assertEquals(0, h.awaitExit());
        assertEquals("halted", vm.status());
    }

    /** As QEMU does for KVM_EXIT_MEMORY_FAULT: the page becomes what the guest used, and the access runs again. */
    @Test
    void aMemoryFaultConvertsThePageThroughThePolicy() throws Exception {
        List<PageState> seen = new ArrayList<>();
        h.engine.program(0, (cpu, step) -> switch (step) {
            case 0 -> new Exit.MemoryFault(0x5123, 8, false); // a shared access to a private page
            case 1 -> {
                seen.add(h.vm.guestView().state(0x5000));
                yield new Exit.MemoryFault(0x5123, 8, true); // and back
            }
            case 2 -> {
                seen.add(h.vm.guestView().state(0x5000));
                yield out(0xf4, 0);
            }
            default -> throw new IllegalStateException("ran on after the debug exit");
        });
        Vm vm = h.boot(new PkvmPolicy(), 1);
        assertEquals(0, h.awaitExit(), vm.status());
        assertEquals(List.of(PageState.SHARED, PageState.PRIVATE), seen);
    }

    @Test
    void aMemoryFaultThePolicyRefusesFailsTheVm() throws Exception {
        h.engine.program(0, Program.of(new Exit.MemoryFault(0x5123, 8, true))); // plain has no private memory
        Vm vm = h.boot(new PlainPolicy(), 1);
        assertEquals(1, h.awaitExit());
        assertEquals(VmState.FAILED, vm.state());
        assertEquals("memory fault at gpa 0x5123 (private access to a page in the other state) and the backend refused "
                + "to convert it (-95)", vm.status());
        assertEquals(PageState.SHARED, vm.guestView().state(0x5000));
    }

    @Test
    void aFailureOrShutdownFailsTheVmAndKicksTheOtherVcpus() throws Exception {
        h.engine.program(0, (cpu, step) -> switch (step) {
            case 0 -> hc(START, 1, 0x2000, 0);
            case 1 -> {
                if (!h.engine.vcpu(1).awaitInside(Harness.DEADLINE_MS)) { // vCPU 1 is in the guest, looping
                    throw new AssertionError("vCPU 1 did not run");
                }
                yield new Exit.Failure("unsupported instruction 0f 0b");
            }
            default -> new Exit.Halt();
        });
        Vm vm = h.boot(new PlainPolicy(), 2); // vCPU 1 has no program: it loops until kicked
        assertEquals(1, h.awaitExit());
        assertEquals(VmState.FAILED, vm.state());
        assertEquals("unsupported instruction 0f 0b", vm.status());
        h.engine.vcpu(1).thread.join(Harness.DEADLINE_MS);
        assertFalse(h.engine.vcpu(1).thread.isAlive(), "the looping vCPU was kicked out and ended");
    }

    @Test
    void aShutdownFailsTheVm() throws Exception {
        h.engine.program(0, Program.of(new Exit.Shutdown("triple fault at rip 0x1000")));
        Vm vm = h.boot(new PlainPolicy(), 1);
        assertEquals(1, h.awaitExit());
        assertEquals(VmState.FAILED, vm.state());
        assertEquals("triple fault at rip 0x1000", vm.status());
    }

    @Test
    void anEngineThatThrowsFailsTheVmWithTheReason() throws Exception {
        h.engine.program(0, (cpu, step) -> {
            throw new IllegalStateException("engine bug");
        });
        Vm vm = h.boot(new PlainPolicy(), 1);
        assertEquals(1, h.awaitExit());
        assertEquals(VmState.FAILED, vm.state());
        assertEquals("engine failed on vCPU 0: java.lang.IllegalStateException: engine bug", vm.status());
    }

    /** A device that copies the value written to it into guest memory at 0x6000 by DMA. */
    static final class DmaDevice implements BusDevice {
        volatile DeviceContext vm;
        volatile RuntimeException refused;

        @Override
        public String name() {
            return "dma";
        }

        @Override
        public List<Claim> claims() {
            return List.of(new Claim(Space.PIO, 0x500, 8));
        }

        @Override
        public void attach(DeviceContext context) {
            vm = context;
        }

        @Override
        public long read(Space space, long address, int size) {
            return 0;
        }

        @Override
        public void write(Space space, long address, int size, long value) {
            MemorySegment s = Arena.ofAuto().allocate(8);
            s.set(ValueLayout.JAVA_LONG, 0, value);
            try {
                vm.dma().write(0x6000, s);
            } catch (RuntimeException e) {
                refused = e;
            }
        }
    }

    /**
     * A device attached while the guest runs (at a safe point) gets the guest's accesses; its DMA
     * writes reach shared memory and the engine's decoded cache, and are refused on private pages.
     */
    @Test
    void aDeviceAttachedAtASafePointServesTheGuestAndItsDmaReachesTheEngine() throws Exception {
        h.engine.program(0, Program.fed());
        Vm vm = h.boot(new PkvmPolicy(), 1);
        ScriptedEngine.ScriptedVcpu cpu = h.engine.vcpu(0);
        assertTrue(cpu.awaitInside(Harness.DEADLINE_MS));
        DmaDevice dma = new DmaDevice();
        vm.attachDevice(new Platform.Device("dma", new Platform.Instances() {
            public BusDevice get() {
                return dma;
            }

            public void release(BusDevice instance) {
            }
        }, "test.bundle 1.0"));
        assertTrue(vm.devices().stream().anyMatch(d -> d.startsWith("dma")), vm.devices().toString());
        // A device whose service names another VM (a drive) is not even instantiated for this one.
        vm.attachDevice(new Platform.Device("drive", new Platform.Instances() {
            public BusDevice get() {
                throw new AssertionError("instantiated for the wrong VM");
            }

            public void release(BusDevice instance) {
            }
        }, "test.bundle 1.0", List.of(), "another-vm"));
        assertTrue(vm.devices().stream().noneMatch(d -> d.startsWith("drive")), vm.devices().toString());
        cpu.feed(hc(MAP, 0x6000, 1, 0)); // the guest shares the page
        Harness.await(() -> cpu.completions.size() == 1, "the conversion");
        cpu.feed(new Exit.Io(0x500, 8, true, 0x1122334455667788L));
        Harness.await(() -> !h.engine.written.isEmpty(), "the DMA write");
        assertEquals(0x6000, h.engine.written.get(0)[0]);
        assertEquals(8, h.engine.written.get(0)[1]);
        MemorySegment back = Arena.ofAuto().allocate(8);
        vm.hostRead(0x6000, back);
        assertEquals(0x1122334455667788L, back.get(ValueLayout.JAVA_LONG, 0));

        cpu.feed(hc(MAP, 0x6000, 1, GuestRequest.MapGpaRange.ATTR_ENCRYPTED)); // private again
        Harness.await(() -> cpu.completions.size() == 2, "the conversion back");
        cpu.feed(new Exit.Io(0x500, 8, true, 1));
        Harness.await(() -> dma.refused != null, "the refused DMA");
        assertTrue(dma.refused instanceof CloisterException e && e.errno() == Errno.EACCES, dma.refused.toString());
        assertEquals(1, h.engine.written.size(), "a refused write changes nothing the engine caches");
        assertEquals(List.of(0L, 0L), cpu.completions);
        cpu.feed(out(0xf4, 0));
        assertEquals(0, h.awaitExit());
    }
}
