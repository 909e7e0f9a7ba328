package io.cloister.cpu.x86;

import java.util.List;

import io.cloister.api.cpu.CpuEngine;
import io.cloister.backend.plain.PlainPolicy;
import io.cloister.devices.BusFactory;
import io.cloister.devices.DebugExit;
import io.cloister.devices.Hpet;
import io.cloister.devices.Pit8254;
import io.cloister.devices.Uart16550;
import io.cloister.memory.MemoryManagerImpl;
import io.cloister.restrictedmem.RestrictedMemory;
import io.cloister.vmm.StandaloneVm;

/** Runs a guest of guests/bin on an engine through the VMM's own exit loop, with the core devices and no CoCo. */
final class Guests {
    private Guests() {
    }

    static StandaloneVm.Result run(CpuEngine engine, String elf, String cmdline) throws InterruptedException {
        return run(engine, elf, cmdline, -1);
    }

    /** On deterministic time when {@code icount} is 0 or more (2^icount ns per instruction). */
    static StandaloneVm.Result run(CpuEngine engine, String elf, String cmdline, int icount) throws InterruptedException {
        try (BusFactory bus = new BusFactory(250)) {
            return new StandaloneVm(engine, new PlainPolicy(), new MemoryManagerImpl(), new RestrictedMemory(), bus,
                    List.of(Uart16550::new, DebugExit::new, Hpet::new, Pit8254::new))
                    .run(io.cloister.testkit.GuestImages.of(elf), 16 << 20, cmdline, 1, 600_000, icount);
        }
    }
}
