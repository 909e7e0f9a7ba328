package io.cloister.devices;

import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ServiceScope;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.InterruptLine;
import io.cloister.api.device.Space;
import io.cloister.api.device.VmClock;

/**
 * An HPET at 0xfed00000 (IA-PC HPET specification 1.0a), where PCs and QEMU put it: a 64-bit main
 * counter at 10 MHz of the VM's clock and three comparators. Timer 0 is periodic-capable, timers 1
 * and 2 one-shot; all 64-bit, with a 32-bit mode. Interrupts are edge (a pulse) or level (held
 * with the timer's bit in the interrupt status register until software writes it 1). Legacy
 * replacement (configuration bit 1) routes timer 0 to IRQ 0 and timer 1 to IRQ 8, as Linux uses
 * it for its HPET clock event; otherwise each timer goes to the I/O APIC pin its route field
 * names, of those its capability allows (2 and 8). No FSB (MSI) delivery. Comparator writes follow
 * the specification and QEMU: in periodic mode a write sets the period, and the comparator too
 * while Tn_VAL_SET_CNF is set (which the write clears). Periods missed by a late host thread are
 * coalesced into one interrupt.
 */
@Component(scope = ServiceScope.PROTOTYPE, property = "device=hpet")
public class Hpet implements BusDevice {
    static final long BASE = 0xfed00000L;
    static final long PERIOD_FS = 100_000_000L; // 100 ns: 10 MHz
    static final long NANOS_PER_TICK = PERIOD_FS / 1_000_000;
    static final int TIMERS = 3;
    /** The minimum periodic tick the ACPI HPET table states (as QEMU's): 128 counter ticks. */
    static final long MIN_TICK = 128;
    /** Revision 1, NUM_TIM_CAP = timers - 1, 64-bit counter (bit 13), legacy replacement capable (bit 15), vendor 0x8086. */
    static final long CAPABILITIES = (PERIOD_FS << 32) | (0x8086L << 16) | (1L << 15) | (1L << 13) | ((TIMERS - 1L) << 8) | 0x01;
    static final long CONF_ENABLE = 1;
    static final long CONF_LEGACY = 2;
    static final long TN_LEVEL = 1 << 1;
    static final long TN_ENABLE = 1 << 2;
    static final long TN_PERIODIC = 1 << 3;
    static final long TN_PERIODIC_CAP = 1 << 4;
    static final long TN_SIZE_CAP = 1 << 5;
    static final long TN_VAL_SET = 1 << 6;
    static final long TN_32BIT = 1 << 8;
    static final long TN_ROUTE = 0x1f << 9;
    /** The I/O APIC pins a timer may be routed to: 2 and 8 (QEMU's also has 16-23, which virtio-mmio uses here). */
    static final long ROUTE_CAP = (1L << 2) | (1L << 8);
    /** The configuration bits software writes. */
    private static final long TN_WRITABLE = TN_LEVEL | TN_ENABLE | TN_PERIODIC | TN_VAL_SET | TN_32BIT | TN_ROUTE;

    /** One comparator. */
    private final class Comparator {
        final int index;
        long config;
        long comparator = -1;
        long period;
        /** The line this timer's level interrupt is asserted on, or -1. */
        int asserted = -1;
        VmClock.Timer timer;

        Comparator(int index) {
            this.index = index;
            config = TN_SIZE_CAP | (index == 0 ? TN_PERIODIC_CAP : 0) | (ROUTE_CAP << 32);
        }

        boolean is32() {
            return (config & TN_32BIT) != 0;
        }

        boolean periodic() {
            return (config & TN_PERIODIC) != 0;
        }
    }

    private final Comparator[] timers = new Comparator[TIMERS];
    private boolean enabled;
    private boolean legacy;
    /** The counter value at VM time {@code since}. */
    private long value;
    private long since;
    private long interruptStatus;
    private VmClock clock;
    private DeviceContext context;
    /** Told whether legacy replacement is in force, so the PIT and the RTC let go of IRQ 0 and IRQ 8. */
    private LegacyRoute route;

    public Hpet() {
        for (int i = 0; i < TIMERS; i++) {
            timers[i] = new Comparator(i);
        }
    }

    @Override
    public String name() {
        return "hpet";
    }

    @Override
    public List<Claim> claims() {
        return List.of(new Claim(Space.MMIO, BASE, 0x400));
    }

    @Override
    public synchronized void attach(DeviceContext context) {
        this.context = context;
        this.clock = context.clock();
        this.route = LegacyRoute.of(context);
        since = clock.nanos();
        for (Comparator t : timers) {
            t.timer = clock.timer(() -> expired(t));
        }
    }

    @Override
    public synchronized void detach() {
        for (Comparator t : timers) {
            if (t.timer != null) {
                t.timer.cancel();
            }
        }
        if (route != null) {
            route.hpetOwnsLegacyIrqs(false); // gone: the PIT and the RTC have their lines back
        }
    }

    private long now() {
        return clock == null ? 0 : clock.nanos();
    }

    /** The main counter now. */
    long counter() {
        return enabled ? value + (now() - since) / NANOS_PER_TICK : value;
    }

    @Override
    public synchronized long read(Space space, long address, int size) {
        long off = address - BASE;
        long reg = register(off & ~7);
        return reg >>> ((off & 7) * 8);
    }

    private long register(long off) {
        if (off >= 0x100 && off < 0x100 + 0x20L * TIMERS) {
            Comparator t = timers[(int) ((off - 0x100) / 0x20)];
            return switch ((int) ((off - 0x100) % 0x20)) {
                case 0x00 -> t.config;
                case 0x08 -> t.is32() ? t.comparator & 0xffffffffL : t.comparator;
                default -> 0; // FSB route: no FSB delivery
            };
        }
        return switch ((int) off) {
            case 0x000 -> CAPABILITIES;
            case 0x010 -> (enabled ? CONF_ENABLE : 0) | (legacy ? CONF_LEGACY : 0);
            case 0x020 -> interruptStatus;
            case 0x0f0 -> counter();
            default -> 0;
        };
    }

    /** A write of {@code size} bytes at byte {@code shift} of a 64-bit register, merged into its old value. */
    private static long merge(long old, int shift, int size, long value) {
        long mask = size >= 8 ? -1L : ((1L << (size * 8)) - 1) << (shift * 8);
        return (old & ~mask) | ((value << (shift * 8)) & mask);
    }

    @Override
    public synchronized void write(Space space, long address, int size, long value) {
        long off = address - BASE;
        long reg = off & ~7;
        int shift = (int) (off & 7);
        long v = merge(register(reg), shift, size, value);
        if (reg >= 0x100 && reg < 0x100 + 0x20L * TIMERS) {
            Comparator t = timers[(int) ((reg - 0x100) / 0x20)];
            switch ((int) ((reg - 0x100) % 0x20)) {
                case 0x00 -> writeConfig(t, v);
                case 0x08 -> writeComparator(t, v, shift, size);
                default -> { }
            }
            return;
        }
        switch ((int) reg) {
            case 0x010 -> writeGeneralConfig(v);
            case 0x020 -> clearStatus(merge(0, shift, size, value));
            case 0x0f0 -> {
                if (!enabled) { // the counter is written only while halted (as the specification asks)
                    this.value = v;
                }
            }
            default -> { }
        }
    }

    private void writeGeneralConfig(long v) {
        boolean enable = (v & CONF_ENABLE) != 0;
        boolean leg = (v & CONF_LEGACY) != 0;
        if (enable != enabled) {
            value = counter();
            since = now();
            enabled = enable;
        }
        if (leg != legacy) {
            for (Comparator t : timers) {
                deassert(t); // a level interrupt moves with its route
            }
            legacy = leg;
            for (Comparator t : timers) {
                reassert(t);
            }
        }
        for (Comparator t : timers) {
            schedule(t);
        }
        // The route is in force while both bits are set (specification 1.0a, LEG_RT_CNF).
        if (route != null) {
            route.hpetOwnsLegacyIrqs(enabled && legacy);
        }
    }

    private void writeConfig(Comparator t, long v) {
        long route = (v & TN_ROUTE) >> 9;
        long writable = TN_WRITABLE;
        if ((t.config & TN_PERIODIC_CAP) == 0) {
            writable &= ~TN_PERIODIC;
        }
        if ((ROUTE_CAP & (1L << route)) == 0) {
            writable &= ~TN_ROUTE; // a pin the capability does not offer: the route stays
        }
        deassert(t);
        t.config = (t.config & ~writable) | (v & writable);
        if (t.is32()) {
            t.comparator &= 0xffffffffL;
            t.period &= 0xffffffffL;
        }
        if ((t.config & TN_LEVEL) == 0) {
            interruptStatus &= ~(1L << t.index); // the status bit is for level interrupts only
        }
        reassert(t);
        schedule(t);
    }

    private void writeComparator(Comparator t, long v, int shift, int size) {
        if (t.is32()) {
            v &= 0xffffffffL;
        }
        long period = merge(t.period, shift, size, v >>> (shift * 8));
        t.period = t.is32() ? period & 0xffffffffL : period;
        if (!t.periodic() || (t.config & TN_VAL_SET) != 0) {
            t.comparator = v;
        }
        t.config &= ~TN_VAL_SET;
        schedule(t);
    }

    private void clearStatus(long bits) {
        for (Comparator t : timers) {
            if ((bits & (1L << t.index)) != 0 && (interruptStatus & (1L << t.index)) != 0) {
                interruptStatus &= ~(1L << t.index);
                deassert(t);
            }
        }
    }

    /** Ticks from the counter now until it matches the comparator (mod 2^32 in 32-bit mode), unsigned. */
    private long ticksToMatch(Comparator t) {
        long d = t.comparator - counter();
        return t.is32() ? d & 0xffffffffL : d;
    }

    /** Arms the timer for the comparator's next match, if the counter runs and the match is not millennia away. */
    private void schedule(Comparator t) {
        schedule(t, false);
    }

    /**
     * {@code fired}: the comparator has just matched, so a match now is the one taken, and the next
     * is a counter wrap away (2^32 ticks in 32-bit mode; never, in practice, with 64 bits).
     */
    private void schedule(Comparator t, boolean fired) {
        if (t.timer == null) {
            return;
        }
        long ticks = ticksToMatch(t);
        if (fired && ticks == 0) {
            ticks = t.is32() ? 1L << 32 : -1;
        }
        if (!enabled || Long.compareUnsigned(ticks, 1L << 50) > 0) {
            t.timer.cancel();
            return;
        }
        // The counter is value + (nanos since) / 100: it reaches counter() + ticks at this VM time.
        long at = since + ((counter() - value) + ticks) * NANOS_PER_TICK;
        t.timer.arm(Math.max(at, now()));
    }

    /** Whether the counter is at or past the comparator (within half the range, in 32-bit mode). */
    private boolean reached(Comparator t) {
        long c = counter();
        return t.is32() ? ((c - t.comparator) & 0xffffffffL) < 0x80000000L : Long.compareUnsigned(c, t.comparator) >= 0;
    }

    private synchronized void expired(Comparator t) {
        if (!enabled || !reached(t)) {
            schedule(t); // a deadline that moved since it was armed
            return;
        }
        fire(t);
        if (t.periodic() && t.period != 0) {
            // The next match: the comparator advances by whole periods past the counter (periods a
            // late host thread missed are one interrupt). Periods below the minimum tick the ACPI
            // table states count as that minimum: a guest cannot make the timer thread spin.
            long step = Math.max(t.period, MIN_TICK);
            long late = counter() - t.comparator;
            if (t.is32()) {
                late &= 0xffffffffL;
            }
            t.comparator += (Long.divideUnsigned(late, step) + 1) * step;
            if (t.is32()) {
                t.comparator &= 0xffffffffL;
            }
            schedule(t);
        } else {
            schedule(t, true);
        }
    }

    /** The timer's interrupt, if enabled: a pulse (edge), or the status bit and a held line (level). */
    private void fire(Comparator t) {
        if ((t.config & TN_LEVEL) != 0) {
            interruptStatus |= 1L << t.index;
            reassert(t);
        } else if ((t.config & TN_ENABLE) != 0) {
            int irq = line(t);
            if (irq >= 0) {
                context.interruptLine(irq).pulse();
            }
        }
    }

    /** The platform interrupt line of a timer: legacy replacement (timer 0: IRQ 0, timer 1: IRQ 8), else its I/O APIC pin. */
    private int line(Comparator t) {
        if (legacy && t.index < 2) {
            return t.index == 0 ? 0 : 8;
        }
        int pin = (int) ((t.config & TN_ROUTE) >> 9);
        return pin == 0 ? -1 : pin; // pin 0 is never in the capability; line 0 would be pin 2
    }

    private void deassert(Comparator t) {
        if (t.asserted >= 0) {
            context.interruptLine(t.asserted).set(false);
            t.asserted = -1;
        }
    }

    /** A level interrupt is held while its status bit is set and the timer's interrupt is enabled. */
    private void reassert(Comparator t) {
        if (context == null || (t.config & TN_LEVEL) == 0 || (t.config & TN_ENABLE) == 0 || (interruptStatus & (1L << t.index)) == 0) {
            return;
        }
        int irq = line(t);
        if (irq >= 0 && t.asserted != irq) {
            deassert(t);
            context.interruptLine(irq).set(true);
            t.asserted = irq;
        }
    }
}
