package io.cloister.cpu.x86.apic;

import io.cloister.api.device.VmClock;
import io.cloister.api.irq.DeliveryMode;
import io.cloister.api.irq.PlatformInterrupts;

/**
 * One vCPU's local APIC (Intel SDM vol. 3, chapter 11): its registers in xAPIC (MMIO page) and
 * x2APIC (MSRs 0x800-0x8ff) form, IA32_APIC_BASE, the timer, and the acceptance side its vCPU
 * asks at an instruction boundary.
 *
 * <p>Threads: the owning vCPU thread reads and writes registers and takes interrupts; other
 * threads (devices, the VM's timer thread, other vCPUs' IPIs) only post through {@link #accept}
 * and {@link #setExtInt}. All state is guarded by this object's monitor, and nothing is called out
 * (other APICs, the platform's controllers) while holding it: the platform's controllers call in
 * while holding their own lock, so the order is always platform, then APIC. {@link #pending} is
 * the one volatile the vCPU reads per boundary when nothing is due.
 */
public final class LocalApic {
    static final int LVT_MASKED = 1 << 16;
    static final int LVT_TIMER = 0, LVT_THERMAL = 1, LVT_PERF = 2, LVT_LINT0 = 3, LVT_LINT1 = 4, LVT_ERROR = 5;
    /** Writable bits per LVT entry (vector, delivery mode, polarity, trigger, mask, timer mode). */
    private static final int[] LVT_BITS = {0x700ff, 0x107ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff};
    static final int VERSION = 0x00050014; // max LVT entry 5 (six entries), version 0x14 (integrated APIC)
    static final int ESR_SEND_ILLEGAL = 1 << 5, ESR_RECEIVE_ILLEGAL = 1 << 6, ESR_ILLEGAL_REGISTER = 1 << 7;
    public static final long BASE_BSP = 1 << 8, BASE_EXTD = 1 << 10, BASE_ENABLE = 1 << 11;
    public static final long DEFAULT_BASE = 0xfee00000L;
    /** Returned by {@link #nextInterrupt} when the 8259's output (ExtINT) is to be taken. */
    public static final int EXTINT = 256;
    public static final int MSR_APIC_BASE = 0x1b;
    public static final int MSR_TSC_DEADLINE = 0x6e0;

    /** Why {@link #await} returned. */
    public enum Wake { EVENT, KICK, TIMEOUT }

    private final VmApics vm;
    final int index;
    private final int initialId;
    final boolean bsp;
    private final ApicTimer timer;
    private VmClock.Timer clockTimer;

    private long apicBase;
    private int id; // xAPIC: the 8-bit ID (register bits 31:24); x2APIC: the 32-bit x2APIC ID
    private int tpr;
    private int ldr; // xAPIC: register value (bits 31:24); x2APIC: derived from the ID
    private int dfr = 0xffffffff;
    private int svr = 0xff;
    private int esr; // what reads return (latched by the last write)
    private int esrPending; // errors since the last write
    private long icr;
    private final int[] lvt = new int[6];
    private final long[] irr = new long[4], isr = new long[4], tmr = new long[4];
    private boolean nmi, init;
    private boolean waitForSipi;
    private int sipiVector = -1;
    private boolean extInt;
    private boolean kicked;

    /** Routing view for other threads: kept equal to the fields above under the lock. */
    volatile int routeId, routeLdr, routeDfr;
    volatile boolean routeX2apic, routeEnabled;
    /** Something may be due: an NMI, INIT, SIPI, the ExtINT wire or a fixed vector above PPR. */
    public volatile boolean pending;
    /** Due whatever RFLAGS.IF says: an NMI, INIT, or a SIPI in wait-for-SIPI state (a subset of {@link #pending}). */
    public volatile boolean urgent;

    LocalApic(VmApics vm, int index, int initialId, boolean bsp, long tscHz) {
        this.vm = vm;
        this.index = index;
        this.initialId = initialId;
        this.bsp = bsp;
        this.timer = new ApicTimer(tscHz);
        this.apicBase = DEFAULT_BASE | BASE_ENABLE | (bsp ? BASE_BSP : 0);
        synchronized (this) {
            resetRegisters();
            routing();
        }
    }

    /** Power-up and INIT state of everything but IA32_APIC_BASE (SDM 11.4.7.1). */
    private void resetRegisters() {
        id = initialId;
        tpr = 0;
        ldr = 0;
        dfr = 0xffffffff;
        svr = 0xff;
        esr = esrPending = 0;
        icr = 0;
        java.util.Arrays.fill(lvt, LVT_MASKED);
        if (bsp) {
            // Virtual wire (MP spec 3.6.2.2), as the firmware leaves it and as KVM and QEMU reset
            // the BSP: LINT0 unmasked in ExtINT mode, so that the 8259's INTR reaches a kernel that
            // never programs the APIC (Linux with acpi=off and no MP table keeps "PIC mode").
            lvt[LVT_LINT0] = 7 << 8;
        }
        java.util.Arrays.fill(irr, 0);
        java.util.Arrays.fill(isr, 0);
        java.util.Arrays.fill(tmr, 0);
        nmi = false;
        timer.reset();
        if (clockTimer != null) {
            clockTimer.cancel();
        }
        changed();
    }

    // ---- state queries (under the lock) ----

    private boolean x2apic() {
        return (apicBase & BASE_EXTD) != 0;
    }

    private boolean hwEnabled() {
        return (apicBase & BASE_ENABLE) != 0;
    }

    private boolean swEnabled() {
        return (svr & 0x100) != 0;
    }

    private static int highest(long[] bits) {
        for (int i = 3; i >= 0; i--) {
            if (bits[i] != 0) {
                return i * 64 + 63 - Long.numberOfLeadingZeros(bits[i]);
            }
        }
        return -1;
    }

    private static boolean test(long[] bits, int v) {
        return (bits[v >> 6] & (1L << v)) != 0;
    }

    private static void set(long[] bits, int v, boolean on) {
        if (on) {
            bits[v >> 6] |= 1L << v;
        } else {
            bits[v >> 6] &= ~(1L << v);
        }
    }

    /** PPR (SDM 11.8.3.1): the TPR if its class is at least the highest in-service class, else that class. */
    private int ppr() {
        int isrv = Math.max(highest(isr), 0);
        return (tpr & 0xf0) >= (isrv & 0xf0) ? tpr & 0xff : isrv & 0xf0;
    }

    /** The highest IRR vector whose class is above PPR's, or -1. */
    private int deliverable() {
        if (!hwEnabled() || !swEnabled()) {
            return -1;
        }
        int v = highest(irr);
        return v >= 0 && (v & 0xf0) > (ppr() & 0xf0) ? v : -1;
    }

    /** The 8259's output reaches this CPU: LINT0 unmasked in ExtINT mode, or (the BSP) a disabled APIC passing INTR through. */
    private boolean extIntDue() {
        if (!extInt) {
            return false;
        }
        if (!hwEnabled()) {
            return bsp;
        }
        return lint0ExtInt();
    }

    /** LINT0 unmasked in ExtINT mode: the 8259's wire (the BSP's power-up state, see {@link #resetRegisters}). */
    private boolean lint0ExtInt() {
        int l = lvt[LVT_LINT0];
        return (l & LVT_MASKED) == 0 && ((l >> 8) & 7) == 7;
    }

    /** Recomputes {@link #pending} and wakes a waiting vCPU; call after every change of acceptance state. */
    private void changed() {
        boolean u = waitForSipi ? init || sipiVector >= 0 : nmi || init;
        boolean p = u || !waitForSipi && (extIntDue() || deliverable() >= 0);
        urgent = u;
        pending = p;
        if (p) {
            notifyAll();
        }
    }

    // ---- acceptance (any thread) ----

    /**
     * A message for this APIC (SDM 11.6.1, 11.11.2): fixed and lowest priority set the IRR (and the
     * TMR bit to the trigger mode), NMI, INIT and STARTUP latch; SMI and ExtINT messages are not modelled.
     */
    synchronized void accept(DeliveryMode mode, int vector, boolean level) {
        if (!hwEnabled()) {
            return;
        }
        switch (mode) {
            case FIXED, LOWEST_PRIORITY -> {
                if (vector < 16) {
                    error(ESR_RECEIVE_ILLEGAL);
                } else if (swEnabled()) { // a software-disabled APIC drops fixed interrupts (as KVM's)
                    set(irr, vector, true);
                    set(tmr, vector, level);
                }
            }
            case NMI -> nmi = true;
            case INIT -> {
                init = true;
                if (!bsp) {
                    // The AP is in wait-for-SIPI from here: a SIPI sent right after the INIT (Linux
                    // sends it without a delay under a hypervisor) starts it even if its vCPU has
                    // not taken the INIT yet; one sent before the INIT is void.
                    waitForSipi = true;
                    sipiVector = -1;
                }
            }
            case STARTUP -> {
                if (waitForSipi && sipiVector < 0) {
                    sipiVector = vector & 0xff;
                }
            }
            default -> { }
        }
        changed();
    }

    /** The VM-wide ExtINT wire (the 8259 output) changed. */
    synchronized void setExtInt(boolean asserted) {
        extInt = asserted;
        changed();
    }

    /** Records an error in ESR and raises the error LVT if unmasked (SDM 11.5.3). */
    private void error(int bit) {
        boolean fresh = (esrPending & bit) == 0;
        esrPending |= bit;
        int l = lvt[LVT_ERROR];
        if (fresh && (l & LVT_MASKED) == 0 && (l & 0xff) >= 16) {
            set(irr, l & 0xff, true);
            set(tmr, l & 0xff, false);
        }
    }

    /** A local interrupt (timer, LINT, error) through its LVT entry. */
    private void local(int entry) {
        int l = lvt[entry];
        if ((l & LVT_MASKED) != 0) {
            return;
        }
        switch ((l >> 8) & 7) {
            case 4 -> nmi = true;
            case 0 -> {
                if ((l & 0xff) < 16) {
                    error(ESR_RECEIVE_ILLEGAL);
                } else {
                    set(irr, l & 0xff, true);
                    set(tmr, l & 0xff, entry != LVT_TIMER && (l & (1 << 15)) != 0);
                }
            }
            default -> { } // SMI, INIT, ExtINT through LVTs other than LINT0's wire: not modelled
        }
        changed();
    }

    /** The VM clock's timer for this APIC fired (on the VM's timer thread). */
    void timerExpired() {
        VmClock clock = vm.clock();
        synchronized (this) {
            long now = clock.nanos();
            if (timer.expire(now)) {
                local(LVT_TIMER);
            }
            armClock();
        }
    }

    private void armClock() {
        long d = timer.deadline();
        if (clockTimer == null) {
            if (d < 0) {
                return;
            }
            clockTimer = vm.clock().timer(this::timerExpired);
        }
        if (d < 0) {
            clockTimer.cancel();
        } else {
            clockTimer.arm(d);
        }
    }

    // ---- the vCPU's side ----

    /**
     * The maskable interrupt to take now: {@link #EXTINT} for the 8259's, else the highest IRR vector
     * above PPR; -1 if none or {@code interruptsEnabled} (RFLAGS.IF and no interrupt shadow) is false.
     */
    public synchronized int nextInterrupt(boolean interruptsEnabled) {
        if (!interruptsEnabled || waitForSipi) {
            return -1;
        }
        return extIntDue() ? EXTINT : deliverable();
    }

    /**
     * The vCPU delivers {@code next} (from {@link #nextInterrupt}): the INTA cycle. A vector moves
     * from IRR to ISR; {@link #EXTINT} asks the 8259s for theirs. Returns the vector to deliver through the IDT.
     */
    public int acknowledge(int next) {
        if (next == EXTINT) {
            PlatformInterrupts p = vm.platform();
            return p == null ? 0xff : p.acknowledgeExtInt() & 0xff; // outside the lock: the 8259s call back in
        }
        synchronized (this) {
            set(irr, next, false);
            set(isr, next, true);
            changed();
        }
        return next;
    }

    /** Takes the highest-priority maskable interrupt, or -1: {@link #nextInterrupt} then {@link #acknowledge}. */
    public int takeInterrupt(boolean interruptsEnabled) {
        int next = nextInterrupt(interruptsEnabled);
        return next < 0 ? -1 : acknowledge(next);
    }

    /** Takes a pending NMI (delivered regardless of RFLAGS.IF; blocking until IRET is the engine's). */
    public synchronized boolean takeNmi() {
        boolean n = nmi && !waitForSipi;
        nmi = false;
        changed();
        return n;
    }

    /**
     * Takes a pending INIT: the APIC returns to its INIT state (all but ID and IA32_APIC_BASE), and
     * an AP waits for a start-up IPI (SDM 8.4.2). The engine resets the vCPU's registers; for the BSP
     * INIT is a processor reset, the engine's to model.
     */
    public synchronized boolean takeInit() {
        if (!init) {
            return false;
        }
        init = false;
        int keepId = id;
        resetRegisters();
        id = keepId;
        waitForSipi = !bsp; // a SIPI accepted since the INIT stays latched
        routing();
        changed();
        return true;
    }

    /** Takes the vector of a start-up IPI received in wait-for-SIPI state (the AP starts at vector << 12), or -1. */
    public synchronized int takeStartup() {
        int v = sipiVector;
        if (v >= 0) {
            sipiVector = -1;
            waitForSipi = false;
            changed();
        }
        return v;
    }

    /** Puts this APIC's vCPU in wait-for-SIPI state: an AP to be started by INIT and SIPI. */
    public synchronized void waitForStartup() {
        waitForSipi = true;
        sipiVector = -1;
        changed();
    }

    public synchronized boolean waitingForStartup() {
        return waitForSipi;
    }

    /**
     * Leaves wait-for-SIPI state without a start-up IPI (the VMM's START_VCPU hypercall starts the
     * AP at a 32-bit entry instead); false if the AP is not waiting any more (a SIPI came first).
     */
    public synchronized boolean leaveWaitForStartup() {
        if (!waitForSipi) {
            return false;
        }
        waitForSipi = false;
        sipiVector = -1;
        changed();
        return true;
    }

    /**
     * Whether a maskable interrupt can reach this CPU at all: the APIC hardware- and
     * software-enabled (a software-disabled APIC drops fixed interrupts and masks its LVTs), or
     * LINT0 still the unmasked ExtINT wire of the BSP's power-up state (which the APIC keeps while
     * software-disabled until the guest writes SVR or the LVT) with 8259s connected to drive it
     * (an engine test without a platform has none), or, for the BSP, hardware-disabled
     * and passing the 8259's INTR through. When not, HLT with IF set
     * can only be ended by NMI or INIT, and the engine treats it as the end of that vCPU, as before
     * it had an APIC.
     */
    public synchronized boolean canTakeInterrupts() {
        return hwEnabled() ? swEnabled() || lint0ExtInt() && vm.platform() != null : bsp;
    }

    /** Makes a vCPU blocked in {@link #await} return (the VMM's pause, a safe point); callable from any thread. */
    public synchronized void kick() {
        kicked = true;
        notifyAll();
    }

    /**
     * Blocks the vCPU (HLT, wait-for-SIPI) until something it can take arrives — an NMI or INIT,
     * a maskable interrupt if {@code interruptsEnabled}, a SIPI in wait-for-SIPI state — or a
     * {@link #kick}, or {@code timeoutNanos} of host time pass. Does not spin: it waits on this
     * object's monitor, which every acceptance notifies.
     */
    public synchronized Wake await(boolean interruptsEnabled, long timeoutNanos) {
        long end = System.nanoTime() + timeoutNanos;
        while (true) {
            if (kicked) {
                kicked = false;
                return Wake.KICK;
            }
            if (waitForSipi ? init || sipiVector >= 0 : nmi || init || interruptsEnabled && (extIntDue() || deliverable() >= 0)) {
                return Wake.EVENT;
            }
            long left = end - System.nanoTime();
            if (left <= 0) {
                return Wake.TIMEOUT;
            }
            try {
                wait(left / 1_000_000, (int) (left % 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return Wake.KICK;
            }
        }
    }

    /** The TSC at the VM clock's current time, on the scale IA32_TSC_DEADLINE is compared with. */
    public long tsc() {
        return ApicTimer.nanosToTsc(vm.clock().nanos(), vm.tscHz);
    }

    // ---- registers ----

    /** Physical address of the xAPIC MMIO page, or -1 while it is not decoded (APIC disabled or in x2APIC mode). */
    public synchronized long mmioBase() {
        return hwEnabled() && !x2apic() ? apicBase & 0xfffffffff000L : -1;
    }

    /** True for the MSRs this APIC answers: IA32_APIC_BASE, IA32_TSC_DEADLINE, 0x800-0x8ff. */
    public static boolean handles(int msr) {
        return msr == MSR_APIC_BASE || msr == MSR_TSC_DEADLINE || (msr & ~0xff) == 0x800;
    }

    /** A 32-bit read at {@code offset} in the MMIO page; reserved registers read 0 (ESR bit 7), unaligned parts 0. */
    public long readMmio(long offset) {
        if ((offset & 0xf) != 0) {
            return 0;
        }
        synchronized (this) {
            long v = read((int) offset & 0xff0, false);
            if (v == NONE) {
                error(ESR_ILLEGAL_REGISTER);
                changed();
                return 0;
            }
            return v & 0xffffffffL;
        }
    }

    /** A 32-bit write at {@code offset} in the MMIO page; read-only and reserved registers ignore it. */
    public void writeMmio(long offset, long value) {
        if ((offset & 0xf) != 0) {
            return;
        }
        Action a;
        synchronized (this) {
            a = write((int) offset & 0xff0, value & 0xffffffffL, false);
            if (a == REFUSED) { // read-only registers ignore writes; only an absent one is an error
                if (read((int) offset & 0xff0, false) == NONE) {
                    error(ESR_ILLEGAL_REGISTER);
                    changed();
                }
                a = null;
            }
        }
        after(a);
    }

    /** RDMSR of an MSR {@link #handles} accepts; null where the CPU raises #GP. */
    public Long readMsr(int msr) {
        synchronized (this) {
            if (msr == MSR_APIC_BASE) {
                return apicBase;
            }
            if (msr == MSR_TSC_DEADLINE) {
                return timer.tscDeadline();
            }
            if (!x2apic() || !hwEnabled()) {
                return null;
            }
            int offset = (msr & 0xff) << 4;
            if (offset == 0x300) {
                return icr;
            }
            long v = read(offset, true);
            return v == NONE ? null : v & 0xffffffffL;
        }
    }

    /** WRMSR of an MSR {@link #handles} accepts; false where the CPU raises #GP. */
    public boolean writeMsr(int msr, long value) {
        Action a;
        synchronized (this) {
            if (msr == MSR_APIC_BASE) {
                return writeApicBase(value);
            }
            if (msr == MSR_TSC_DEADLINE) {
                if (hwEnabled()) {
                    timer.writeTscDeadline(value);
                    armClock();
                }
                return true;
            }
            if (!x2apic() || !hwEnabled()) {
                return false;
            }
            int offset = (msr & 0xff) << 4;
            if (offset != 0x300 && value >>> 32 != 0) {
                return false; // bits 63:32 are reserved in every x2APIC register but the ICR
            }
            a = write(offset, value, true);
            if (a == REFUSED) {
                return false;
            }
        }
        after(a);
        return true;
    }

    /**
     * IA32_APIC_BASE (SDM 11.4.4, 11.12.5): the legal (enable, extended) transitions are
     * disabled → xAPIC → x2APIC and any → disabled; x2APIC → xAPIC, disabled → x2APIC, the invalid
     * state and reserved bits raise #GP. BSP is read-only. Disabling resets the APIC.
     */
    private boolean writeApicBase(long value) {
        if ((value & ~(0xfffffffff000L | BASE_BSP | BASE_EXTD | BASE_ENABLE)) != 0) {
            return false;
        }
        boolean en = (value & BASE_ENABLE) != 0, extd = (value & BASE_EXTD) != 0;
        boolean wasEn = hwEnabled(), wasExtd = x2apic();
        if (extd && !en || wasExtd && en && !extd || !wasEn && extd) {
            return false;
        }
        apicBase = (value & ~BASE_BSP) | (apicBase & BASE_BSP);
        if (!en && wasEn) {
            resetRegisters();
        } else if (extd && !wasExtd) {
            id = initialId; // the x2APIC ID is the 32-bit initial APIC ID
        }
        routing();
        changed();
        return true;
    }

    private void routing() {
        routeX2apic = x2apic();
        routeId = x2apic() ? id : id & 0xff;
        routeLdr = x2apic() ? (id >>> 4) << 16 | 1 << (id & 0xf) : ldr >>> 24;
        routeDfr = dfr >>> 28;
        routeEnabled = hwEnabled();
    }

    private static final long NONE = Long.MIN_VALUE;

    /** A register read by offset; NONE where the register does not exist or is write-only in this mode. */
    private long read(int offset, boolean x2) {
        return switch (offset) {
            case 0x020 -> x2 ? id : (long) (id & 0xff) << 24;
            case 0x030 -> VERSION;
            case 0x080 -> tpr;
            case 0x090 -> x2 ? NONE : 0; // APR: arbitration is not modelled (lowest priority goes to the lowest index)
            case 0x0a0 -> ppr();
            case 0x0b0 -> x2 ? NONE : 0; // EOI is write-only
            case 0x0c0 -> x2 ? NONE : 0; // remote read: not supported
            case 0x0d0 -> x2 ? routeLdr : ldr;
            case 0x0e0 -> x2 ? NONE : dfr;
            case 0x0f0 -> svr;
            case 0x280 -> esr;
            case 0x300 -> icr & 0xffffffffL & ~(1 << 12); // delivery status: always idle, delivery is synchronous
            case 0x310 -> x2 ? NONE : icr >>> 32;
            case 0x320, 0x330, 0x340, 0x350, 0x360, 0x370 -> lvt[(offset - 0x320) >> 4];
            case 0x380 -> timer.initialCount();
            case 0x390 -> timer.currentCount(vm.clock().nanos());
            case 0x3e0 -> timer.divideConfig();
            default -> {
                if (offset >= 0x100 && offset < 0x280) {
                    long[] bits = offset < 0x180 ? isr : offset < 0x200 ? tmr : irr;
                    int word = (offset >> 4) & 7;
                    yield (bits[word >> 1] >>> ((word & 1) * 32)) & 0xffffffffL;
                }
                yield NONE;
            }
        };
    }

    /** What a register write asks for after the lock is released: an IPI to route, or a level EOI for the platform. */
    private record Action(long icr, int eoiVector) {
    }

    private static final Action REFUSED = new Action(0, -1);

    /** A register write by offset: null when done, REFUSED where the register is read-only or absent in this mode. */
    private Action write(int offset, long value, boolean x2) {
        int v = (int) value;
        switch (offset) {
            case 0x020 -> {
                if (x2) {
                    return REFUSED;
                }
                id = v >>> 24; // writable in xAPIC mode, as on P6 and later
            }
            case 0x080 -> tpr = v & 0xff;
            case 0x0b0 -> {
                if (x2 && v != 0) {
                    return REFUSED;
                }
                return eoi();
            }
            case 0x0d0 -> {
                if (x2) {
                    return REFUSED;
                }
                ldr = v & 0xff000000;
            }
            case 0x0e0 -> {
                if (x2) {
                    return REFUSED;
                }
                dfr = v | 0x0fffffff;
            }
            case 0x0f0 -> {
                svr = v & 0x3ff; // vector, software enable, focus processor checking
                if (!swEnabled()) { // SDM 11.4.7.2: software disable masks every LVT entry
                    for (int i = 0; i < lvt.length; i++) {
                        lvt[i] |= LVT_MASKED;
                    }
                }
            }
            case 0x280 -> {
                if (x2 && v != 0) {
                    return REFUSED;
                }
                esr = esrPending;
                esrPending = 0;
            }
            case 0x300 -> {
                icr = x2 ? value & 0xffffffff000ccfffL : (icr & 0xffffffff00000000L) | (value & 0xccfffL);
                return new Action(icr, -1);
            }
            case 0x310 -> {
                if (x2) {
                    return REFUSED;
                }
                icr = (icr & 0xffffffffL) | (value & 0xff000000L) << 32;
            }
            case 0x320, 0x330, 0x340, 0x350, 0x360, 0x370 -> writeLvt((offset - 0x320) >> 4, v);
            case 0x380 -> timer.writeInitialCount(value, vm.clock().nanos());
            case 0x3e0 -> timer.writeDivideConfig(v, vm.clock().nanos());
            case 0x3f0 -> {
                if (!x2) {
                    return REFUSED;
                }
                return new Action(((long) id << 32) | (v & 0xff), -1); // SELF IPI: fixed, edge, to this APIC's ID
            }
            default -> {
                return REFUSED; // ID (x2APIC), version, PPR, ISR/TMR/IRR, current count: read-only; the rest reserved
            }
        }
        routing();
        armClock();
        changed();
        return null;
    }

    private void writeLvt(int entry, int v) {
        int bits = LVT_BITS[entry];
        if (entry == LVT_TIMER) {
            int mode = (v >> 17) & 3;
            if (mode == 3) {
                mode = ApicTimer.MODE_ONE_SHOT; // reserved: treated as one-shot
            }
            timer.setMode(mode, vm.clock().nanos());
        }
        // Delivery status (12) and remote IRR (14) are read-only: kept at 0, delivery being synchronous.
        int value = v & bits & ~(1 << 12 | 1 << 14);
        if (!swEnabled()) {
            value |= LVT_MASKED;
        }
        lvt[entry] = value;
    }

    /** EOI (SDM 11.8.5): clears the highest ISR bit; a level-triggered vector goes on to the platform's EOI. */
    private Action eoi() {
        int v = highest(isr);
        if (v < 0) {
            return null;
        }
        set(isr, v, false);
        changed();
        return test(tmr, v) ? new Action(0, v) : null;
    }

    /** Runs what a register write asked for, outside the lock. */
    private void after(Action a) {
        if (a == null) {
            return;
        }
        if (a.eoiVector >= 0) {
            PlatformInterrupts p = vm.platform();
            if (p != null) {
                p.endOfInterrupt(a.eoiVector);
            }
            return;
        }
        sendIpi(a.icr);
    }

    /** Sends the IPI an ICR write asks for (SDM 11.6.1); errors go to this APIC's ESR. */
    private void sendIpi(long icr) {
        int vector = (int) icr & 0xff;
        DeliveryMode mode = DeliveryMode.of((int) (icr >> 8));
        boolean logical = (icr & (1 << 11)) != 0;
        boolean assertLevel = (icr & (1 << 14)) != 0;
        boolean level = (icr & (1 << 15)) != 0;
        int shorthand = (int) (icr >> 18) & 3;
        boolean x2 = routeX2apic;
        int dest = x2 ? (int) (icr >>> 32) : (int) (icr >>> 56);
        if (mode == null || mode == DeliveryMode.SMI || mode == DeliveryMode.EXTINT) {
            return; // reserved, or not modelled
        }
        if (mode == DeliveryMode.INIT && level && !assertLevel) {
            return; // INIT level de-assert: only synchronises arbitration IDs
        }
        if ((mode == DeliveryMode.FIXED || mode == DeliveryMode.LOWEST_PRIORITY) && vector < 16) {
            synchronized (this) {
                error(ESR_SEND_ILLEGAL);
                changed();
            }
            return;
        }
        // The trigger mode bit only qualifies INIT de-assert: IPIs are edge-triggered.
        vm.send(this, mode, vector, false, shorthand, logical, dest, x2);
    }

    /** For tests and diagnostics: IRR, ISR or TMR as a 256-bit set. */
    synchronized boolean bit(char which, int vector) {
        return test(which == 'i' ? irr : which == 's' ? isr : tmr, vector);
    }
}
