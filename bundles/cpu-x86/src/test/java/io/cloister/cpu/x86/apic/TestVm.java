package io.cloister.cpu.x86.apic;

import java.util.ArrayList;
import java.util.List;

import io.cloister.api.irq.PlatformInterrupts;

/**
 * A VM's APICs for tests: a hand-moved clock, and platform controllers that record EOIs and answer
 * INTA with the vector the test set. vCPU 0 and 1 exist, software-enabled (SVR 0x1ff).
 */
final class TestVm implements PlatformInterrupts {
    static final long TSC_HZ = 2_000_000_000L;
    final HandClock clock = new HandClock();
    final VmApics vm = new VmApics(TSC_HZ);
    final List<Integer> eois = new ArrayList<>();
    int extIntVector = 0x30;
    int inta;
    final LocalApic a0, a1;

    TestVm() {
        vm.connect(this, clock);
        a0 = vm.create(0);
        a1 = vm.create(1);
        a0.writeMmio(0xf0, 0x1ff);
        a1.writeMmio(0xf0, 0x1ff);
    }

    @Override
    public void setLevel(int irq, boolean level) {
        throw new UnsupportedOperationException();
    }

    @Override
    public synchronized int acknowledgeExtInt() {
        inta++;
        return extIntVector;
    }

    @Override
    public synchronized void endOfInterrupt(int vector) {
        eois.add(vector);
    }

    /** Fixed edge interrupt {@code vector} to APIC ID {@code id} (as the I/O APIC sends). */
    void fixed(int id, int vector) {
        vm.deliver(new io.cloister.api.irq.ApicMessage(id, false, vector, io.cloister.api.irq.DeliveryMode.FIXED, false));
    }

    /** Enters x2APIC mode from xAPIC (IA32_APIC_BASE: enable + extended). */
    static void x2apic(LocalApic a) {
        if (!a.writeMsr(LocalApic.MSR_APIC_BASE, a.readMsr(LocalApic.MSR_APIC_BASE) | LocalApic.BASE_EXTD)) {
            throw new AssertionError("x2APIC enable refused");
        }
    }
}
