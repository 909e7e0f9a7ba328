package io.cloister.cpu.x86.apic;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import io.cloister.api.device.VmClock;
import io.cloister.api.irq.ApicMessage;
import io.cloister.api.irq.DeliveryMode;
import io.cloister.api.irq.LocalApics;
import io.cloister.api.irq.PlatformInterrupts;

/**
 * The local APICs of one VM: where the I/O APIC, MSIs and the 8259s deliver, and how the APICs
 * send each other IPIs (SDM 11.6). Routing reads each APIC's volatile routing view (ID, LDR, DFR,
 * mode) without its lock and takes only the lock of each APIC that accepts; nothing here holds
 * two APIC locks at once, so IPIs crossing between vCPUs cannot deadlock.
 */
public final class VmApics implements LocalApics {
    /**
     * Before {@link #connect} (an engine test without a VMM): host time, for the TSC; timers never
     * fire, there being no VM timer thread to run them.
     */
    private final VmClock unconnected = new VmClock() {
        private final long origin = System.nanoTime();

        @Override
        public long nanos() {
            return System.nanoTime() - origin;
        }

        @Override
        public Timer timer(Runnable expiry) {
            return new Timer() {
                @Override
                public void arm(long deadlineNanos) {
                }

                @Override
                public void cancel() {
                }
            };
        }
    };

    final long tscHz;
    private volatile VmClock clock;
    private volatile PlatformInterrupts platform;
    private final List<LocalApic> apics = new CopyOnWriteArrayList<>();
    private boolean extInt;

    /** {@code tscHz}: the TSC frequency IA32_TSC_DEADLINE counts in (what CPUID 0x15/0x16 advertise), below 9 GHz. */
    public VmApics(long tscHz) {
        if (tscHz <= 0 || tscHz > 9_000_000_000L) {
            throw new IllegalArgumentException("TSC frequency " + tscHz + " Hz is outside 1 Hz..9 GHz");
        }
        this.tscHz = tscHz;
        this.clock = unconnected;
    }

    /**
     * The VM's clock (the APIC timers run on it, as the PIT does) and its platform controllers
     * (ExtINT acknowledge, level-triggered EOI). Made after the engine's VM, so set before any vCPU runs.
     */
    @Override
    public void connect(PlatformInterrupts platform, VmClock clock) {
        this.clock = clock;
        this.platform = platform;
    }

    VmClock clock() {
        return clock;
    }

    PlatformInterrupts platform() {
        return platform;
    }

    /** Makes the APIC of vCPU {@code index}: APIC ID = index, the BSP is vCPU 0. */
    public synchronized LocalApic create(int index) {
        for (LocalApic a : apics) {
            if (a.index == index) {
                throw new IllegalArgumentException("vCPU " + index + " has a local APIC already");
            }
        }
        LocalApic a = new LocalApic(this, index, index, index == 0, tscHz);
        apics.add(a);
        a.setExtInt(extInt);
        return a;
    }

    @Override
    public void deliver(ApicMessage m) {
        route(null, m.mode(), m.vector(), m.levelTriggered(), m.logicalDestination(), m.destination(), m.broadcast());
    }

    @Override
    public void setExtInt(boolean asserted) {
        synchronized (this) { // in order: the wire's changes reach each APIC as the 8259s made them
            extInt = asserted;
            for (LocalApic a : apics) {
                a.setExtInt(asserted);
            }
        }
    }

    /** An IPI from {@code from}'s ICR: {@code shorthand} 0 none, 1 self, 2 all including self, 3 all excluding self. */
    void send(LocalApic from, DeliveryMode mode, int vector, boolean level, int shorthand, boolean logical, int dest, boolean x2) {
        switch (shorthand) {
            case 1 -> from.accept(mode, vector, level);
            case 2, 3 -> {
                LocalApic first = null;
                for (LocalApic a : apics) {
                    if (a.routeEnabled && (shorthand == 2 || a != from)) {
                        if (mode != DeliveryMode.LOWEST_PRIORITY) {
                            a.accept(mode, vector, level);
                        } else if (first == null) {
                            first = a;
                        }
                    }
                }
                if (first != null) {
                    first.accept(mode, vector, level);
                }
            }
            default -> route(from, mode, vector, level, logical, dest, !logical && dest == (x2 ? -1 : 0xff));
        }
    }

    /** Delivers to every APIC the destination names; lowest priority to the lowest-numbered of them (no arbitration). */
    private void route(LocalApic from, DeliveryMode mode, int vector, boolean level, boolean logical, int dest, boolean broadcast) {
        for (LocalApic a : apics) {
            if (matches(a, dest, logical, broadcast)) {
                a.accept(mode, vector, level);
                if (mode == DeliveryMode.LOWEST_PRIORITY) {
                    return;
                }
            }
        }
    }

    /** SDM 11.6.2: physical by APIC ID; logical by LDR in the flat or cluster model (xAPIC) or x2APIC's cluster form. */
    static boolean matches(LocalApic a, int dest, boolean logical, boolean broadcast) {
        if (!a.routeEnabled) {
            return false;
        }
        if (!logical) {
            return broadcast || a.routeId == dest;
        }
        int ldr = a.routeLdr;
        if (a.routeX2apic) {
            return dest == -1 || dest >>> 16 == ldr >>> 16 && (dest & ldr & 0xffff) != 0;
        }
        int mda = dest & 0xff;
        if (a.routeDfr == 0xf) { // flat: a bit per APIC
            return (mda & ldr) != 0;
        }
        // cluster: cluster number in bits 7:4 (15 addresses every cluster), a bit per member in 3:0
        return ((mda >> 4) == 0xf || (mda >> 4) == (ldr >> 4)) && (mda & ldr & 0xf) != 0;
    }

    /** The APIC of vCPU {@code index}, or null. */
    public LocalApic get(int index) {
        for (LocalApic a : apics) {
            if (a.index == index) {
                return a;
            }
        }
        return null;
    }
}
