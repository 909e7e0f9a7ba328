package io.cloister.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.CloisterException;
import io.cloister.api.backend.BackendPolicy;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.backend.HostAccess;
import io.cloister.api.bus.DeviceBusFactory;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.memory.GuestMemoryControl;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.PageState;
import io.cloister.api.vm.VmState;
import io.cloister.backend.pkvm.PkvmPolicy;
import io.cloister.memory.MemoryManagerImpl;
import io.cloister.restrictedmem.RestrictedMemory;

class VmTest {
    final RestrictedMemory restricted = new RestrictedMemory();

    /** A policy whose request handling throws: the guest gets -EIO, the VM runs on. */
    static final class Broken implements BackendPolicy {
        public String name() {
            return "broken";
        }

        public void validateLayout(List<SlotSpec> layout) {
        }

        public PageState initialState() {
            return PageState.PRIVATE;
        }

        public long handle(GuestMemoryControl memory, GuestRequest request) {
            throw new IllegalStateException("bug in the policy bundle");
        }

        public HostAccess hostAccess() {
            return HostAccess.DENY;
        }

        public void adopt(GuestMemoryControl memory, List<SlotSpec> layout) {
        }
    }

    record Fixed(Backend backend) implements Platform {
        public Backend backend(String name) {
            return backend.name().equals(name) ? backend : null;
        }

        public CpuEngine engine(String setting) {
            return null;
        }

        public String engineMissing(String setting) {
            return "none in this test";
        }

        public DeviceBusFactory busFactory() {
            return null;
        }

        public List<Device> devices() {
            return List.of();
        }
    }

    Vm vm(Backend b) {
        Vm vm = new Vm(new Vm.Spec("t", 1 << 20, b.name()), new MemoryManagerImpl(), restricted, new Fixed(b));
        vm.offer(b);
        return vm;
    }

    static CpuEngine engine(String name, String unavailable) {
        return new CpuEngine() {
            public String name() {
                return name;
            }

            public String unavailableReason() {
                return unavailable;
            }

            public io.cloister.api.cpu.EngineVm createVm(io.cloister.api.memory.GuestView memory, io.cloister.api.backend.CocoCpu coco) {
                throw new UnsupportedOperationException();
            }
        };
    }

    @Test
    void autoFallsBackToTheEmulatorAndAMissingEngineSaysWhy() {
        VmRegistry registry = new VmRegistry();
        CpuEngine emulator = engine("emulator", null);
        registry.addEngine(engine("kvm", "KVM_CREATE_VM failed: errno 13 (permission denied)"));
        registry.addEngine(emulator);
        assertEquals(emulator, registry.engine("auto"));
        assertEquals(emulator, registry.engine("emulator"));
        assertEquals(null, registry.engine("kvm"));
        assertEquals("kvm unavailable: KVM_CREATE_VM failed: errno 13 (permission denied)", registry.engineMissing("kvm"));
        assertEquals("no engine 'kvn'; installed: kvm, emulator, or auto", registry.engineMissing("kvn"));
    }

    @Test
    void aThrowingPolicyGivesTheGuestEioAndTheVmRunsOn() {
        Vm vm = vm(new Backend("broken", new Broken(), "test.bundle 1.0"));
        assertEquals(VmState.RUNNING, vm.state());
        assertEquals(-5, vm.guestRequest(new GuestRequest.MapGpaRange(0, 1, 0)));
        assertEquals(VmState.RUNNING, vm.state());
        vm.destroy();
        assertEquals(0, restricted.stats().files());
    }

    @Test
    void aSwitchToAnUnknownBackendIsRefusedAndChangesNothing() {
        Vm vm = vm(new Backend("pkvm", new PkvmPolicy(), "pkvm"));
        CloisterException e = assertThrows(CloisterException.class, () -> vm.switchBackend("nope"));
        assertTrue(e.getMessage().contains("unknown backend 'nope'"), e.getMessage());
        assertEquals("pkvm", vm.backend());
        assertEquals(VmState.RUNNING, vm.state());
        assertEquals(256, vm.privatePages());
        vm.destroy();
    }

    @Test
    void badSizesAndVcpuCountsAreRefusedWithTheReason() {
        // Sizes are VmSettings.parseSize's (VmSettingsTest); a Spec checks its vCPU count itself.
        new Vm.Spec("t", 1 << 20, "plain", "auto", false, true, "", "", 4, "stdout");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Vm.Spec("t", 1 << 20, "plain", "auto", false, true, "", "", 0, "stdout"));
        assertTrue(e.getMessage().contains("vcpus=0 is outside 1..64"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Vm.Spec("t", 1 << 20, "plain", "auto", false, true, "", "", 65, "stdout"));
    }
}
