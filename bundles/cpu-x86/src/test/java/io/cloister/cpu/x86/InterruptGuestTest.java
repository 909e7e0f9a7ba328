package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

import io.cloister.backend.plain.PlainPolicy;
import io.cloister.devices.BusFactory;
import io.cloister.devices.DebugExit;
import io.cloister.devices.Uart16550;
import io.cloister.memory.MemoryManagerImpl;
import io.cloister.restrictedmem.RestrictedMemory;
import io.cloister.vmm.StandaloneVm;

/** Guests that take interrupts on the emulator: its local APIC, the VMM's clock, HLT's wait. */
class InterruptGuestTest {
    /**
     * guests/apictimer: a periodic LAPIC timer (1 ms) taken ten times with HLT in between, every HLT
     * ended by an interrupt, then a one-shot; exit status 10 when all is as the SDM says. (Its output
     * on QEMU TCG is the same: QemuDifferentialTest.)
     */
    @Test
    void lapicTimerWakesHlt() throws Exception {
        StandaloneVm.Result r = Guests.run(new X86Engine(), "apictimer.elf", "");
        assertEquals("""
                apic: version 0x0000000000000014, id 0
                periodic: 10 interrupts taken, 0 HLTs ended without one, counting down
                one-shot: 1 interrupt, current count 0
                """, r.console(), r.status());
        assertEquals("guest exited with status 10", r.status());
    }

    /**
     * guests/ipi: two vCPUs play ping-pong with fixed IPIs through their ICRs, each waiting in HLT
     * for the other's, then a broadcast to all-but-self and a self IPI; every IPI arrives once.
     */
    @Test
    void ipiPingPongBetweenTwoVcpus() throws Exception {
        StandaloneVm.Result r;
        try (BusFactory bus = new BusFactory(250)) {
            r = new StandaloneVm(new X86Engine(), new PlainPolicy(), new MemoryManagerImpl(), new RestrictedMemory(), bus,
                    java.util.List.of(Uart16550::new, DebugExit::new)).run(io.cloister.testkit.GuestImages.of("ipi.elf"), 16 << 20,
                            "rounds=200", 2, 120_000);
        }
        assertEquals("""
                ipi: 200 round trips
                ipi: broadcast and self IPI arrived; received 201 and 201
                """, r.console(), r.status());
        assertEquals("guest exited with status 0", r.status());
    }

    /**
     * guests/sipi: vCPU 0 starts three APs the standard way (INIT, INIT de-assert, two SIPIs to a
     * real-mode trampoline at 0x70000); each runs 16-bit code (addressing forms, 0x66, CPUID, an
     * interrupt through its own IVT), goes to long mode through 32-bit protected mode, and takes and
     * sends a fixed IPI. (QEMU prints the same: QemuDifferentialTest.)
     */
    @Test
    void apsStartedByInitAndSipiReachLongModeAndExchangeIpis() throws Exception {
        StandaloneVm.Result r = runWithVcpus("sipi.elf", "cpus=4", 4);
        assertEquals(SIPI_OUTPUT, r.console(), r.status());
        assertEquals("guest exited with status 0", r.status());
        assertEquals(4, r.startedVcpus());
    }

    static final String SIPI_OUTPUT = """
            sipi: vCPU 1: real mode at cs 0x0000000000007000, 16-bit sum 0x0000000000001234, 32-bit sum 0x0000000023456789, \
            apic id 1, int 0x30 taken; long mode, apic id 1, IPIs received 1
            sipi: vCPU 2: real mode at cs 0x0000000000007000, 16-bit sum 0x0000000000001234, 32-bit sum 0x0000000023456789, \
            apic id 2, int 0x30 taken; long mode, apic id 2, IPIs received 1
            sipi: vCPU 3: real mode at cs 0x0000000000007000, 16-bit sum 0x0000000000001234, 32-bit sum 0x0000000023456789, \
            apic id 3, int 0x30 taken; long mode, apic id 3, IPIs received 1
            sipi: vCPU 0 received 3 IPIs
            sipi: ok
            """;

    static StandaloneVm.Result runWithVcpus(String guest, String cmdline, int vcpus) throws Exception {
        try (BusFactory bus = new BusFactory(250)) {
            return new StandaloneVm(new X86Engine(), new PlainPolicy(), new MemoryManagerImpl(), new RestrictedMemory(), bus,
                    java.util.List.of(Uart16550::new, DebugExit::new)).run(io.cloister.testkit.GuestImages.of(guest), 16 << 20,
                            cmdline, vcpus, 120_000);
        }
    }
}
