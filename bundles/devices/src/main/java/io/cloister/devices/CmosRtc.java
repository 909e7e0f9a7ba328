package io.cloister.devices;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
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
 * The CMOS real-time clock (Motorola MC146818A, as PCs have it) at ports 0x70 (index; bit 7 is
 * the NMI mask, kept) and 0x71 (data): the host's wall-clock time in UTC when the VM started,
 * advanced by the VM's clock, in BCD or binary and 12- or 24-hour form as register B says; the
 * century at 0x32; status registers A-D; 114 bytes of CMOS RAM. A guest that sets the time (SET
 * in B, then the time registers) moves its clock by the difference. Periodic (PIE, rate from A)
 * and update-ended (UIE, each second) interrupts on IRQ 8, flags in C, cleared by reading it.
 */
@Component(scope = ServiceScope.PROTOTYPE, property = "device=rtc")
public class CmosRtc implements BusDevice {
    static final int A = 0x0a;
    static final int B = 0x0b;
    static final int C = 0x0c;
    static final int D = 0x0d;
    static final int B_SET = 0x80;
    static final int B_PIE = 0x40;
    static final int B_AIE = 0x20;
    static final int B_UIE = 0x10;
    static final int B_BINARY = 0x04;
    static final int B_24H = 0x02;
    static final int C_IRQF = 0x80;
    static final int C_PF = 0x40;
    static final int C_AF = 0x20;
    static final int C_UF = 0x10;

    final int[] ram = new int[128];
    private int index;
    private VmClock clock;
    private InterruptLine irq8;
    /** Whether the HPET has IRQ 8 (legacy replacement): then the RTC's flags interrupt nobody. */
    private LegacyRoute route;
    private VmClock.Timer periodic;
    private VmClock.Timer update;
    /** Seconds since the epoch at VM time 0, moved when the guest sets the time. */
    long epochSecondsAtStart;
    /** The time as frozen while SET is on. */
    private LocalDateTime held;

    @Override
    public String name() {
        return "mc146818";
    }

    @Override
    public List<Claim> claims() {
        return List.of(new Claim(Space.PIO, 0x70, 2));
    }

    @Override
    public synchronized void attach(DeviceContext context) {
        clock = context.clock();
        irq8 = context.interruptLine(8);
        route = LegacyRoute.of(context);
        periodic = clock.timer(this::periodicTick);
        update = clock.timer(this::updateEnded);
        epochSecondsAtStart = System.currentTimeMillis() / 1000 - clock.nanos() / 1_000_000_000L;
        ram[A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
        ram[B] = B_24H;
        ram[D] = 0x80; // valid RAM and time
    }

    @Override
    public synchronized void detach() {
        if (periodic != null) {
            periodic.cancel();
            update.cancel();
        }
    }

    LocalDateTime now() {
        return held != null ? held
                : LocalDateTime.ofEpochSecond(epochSecondsAtStart + clock.nanos() / 1_000_000_000L, 0, ZoneOffset.UTC);
    }

    @Override
    public synchronized long read(Space space, long address, int size) {
        if (address == 0x70) {
            return 0xff; // the index register is write-only
        }
        int r = index & 0x7f;
        return switch (r) {
            case 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32 -> encode(r, now());
            case C -> {
                int v = ram[C];
                ram[C] = 0;
                yield v;
            }
            default -> ram[r];
        };
    }

    @Override
    public synchronized void write(Space space, long address, int size, long value) {
        int v = (int) value & 0xff;
        if (address == 0x70) {
            index = v;
            return;
        }
        int r = index & 0x7f;
        switch (r) {
            case 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32 -> setField(r, v);
            case A -> {
                ram[A] = v & 0x7f; // UIP is read-only
                schedulePeriodic();
            }
            case B -> {
                boolean wasSet = (ram[B] & B_SET) != 0;
                ram[B] = (v & B_SET) != 0 ? v & ~B_UIE : v; // SET clears UIE
                if ((v & B_SET) != 0 && !wasSet) {
                    held = now();
                } else if ((v & B_SET) == 0 && wasSet) {
                    epochSecondsAtStart = held.toEpochSecond(ZoneOffset.UTC) - clock.nanos() / 1_000_000_000L;
                    held = null;
                }
                schedulePeriodic();
                scheduleUpdate();
            }
            case C, D -> { } // read-only
            default -> ram[r] = v;
        }
    }

    private int encode(int r, LocalDateTime t) {
        int v = switch (r) {
            case 0x00 -> t.getSecond();
            case 0x02 -> t.getMinute();
            case 0x04 -> hour(t.getHour());
            case 0x06 -> t.getDayOfWeek().getValue() % 7 + 1; // Sunday = 1
            case 0x07 -> t.getDayOfMonth();
            case 0x08 -> t.getMonthValue();
            case 0x09 -> t.getYear() % 100;
            default -> t.getYear() / 100;
        };
        int pm = r == 0x04 && (ram[B] & B_24H) == 0 && t.getHour() >= 12 ? 0x80 : 0;
        return ((ram[B] & B_BINARY) != 0 ? v : bcd(v)) | pm;
    }

    private int hour(int h) {
        return (ram[B] & B_24H) != 0 ? h : (h % 12 == 0 ? 12 : h % 12);
    }

    static int bcd(int v) {
        return ((v / 10) << 4) | (v % 10);
    }

    private int decode(int v) {
        return (ram[B] & B_BINARY) != 0 ? v : ((v >>> 4) & 0x0f) * 10 + (v & 0x0f);
    }

    /** A time register written (the guest sets the clock): applied to the held time, or at once. */
    private void setField(int r, int raw) {
        LocalDateTime t = now();
        int v = decode(r == 0x04 ? raw & 0x7f : raw);
        try {
            t = switch (r) {
                case 0x00 -> t.withSecond(v);
                case 0x02 -> t.withMinute(v);
                case 0x04 -> t.withHour((ram[B] & B_24H) != 0 ? v : v % 12 + ((raw & 0x80) != 0 ? 12 : 0));
                case 0x07 -> t.withDayOfMonth(v);
                case 0x08 -> t.withMonth(v);
                case 0x09 -> t.withYear(t.getYear() / 100 * 100 + v);
                case 0x32 -> t.withYear(v * 100 + t.getYear() % 100);
                default -> t; // the day of the week follows the date
            };
        } catch (java.time.DateTimeException e) {
            return; // an impossible date: the part would count from it; we keep the time we have
        }
        if (held != null) {
            held = t;
        } else {
            epochSecondsAtStart = t.toEpochSecond(ZoneOffset.UTC) - clock.nanos() / 1_000_000_000L;
        }
    }

    /** Rate select (register A bits 0-3): 0 off, 1-2 as 8-9, else 32768 >> (rate - 1) Hz. */
    long periodNanos() {
        int rate = ram[A] & 0x0f;
        if (rate == 0) {
            return -1;
        }
        if (rate < 3) {
            rate += 7;
        }
        return 1_000_000_000L / (32768 >> (rate - 1));
    }

    private void schedulePeriodic() {
        long p = periodNanos();
        if ((ram[B] & B_PIE) != 0 && p > 0) {
            periodic.arm((clock.nanos() / p + 1) * p);
        } else {
            periodic.cancel();
        }
    }

    private void scheduleUpdate() {
        if ((ram[B] & B_UIE) != 0) {
            update.arm((clock.nanos() / 1_000_000_000L + 1) * 1_000_000_000L);
        } else {
            update.cancel();
        }
    }

    private synchronized void periodicTick() {
        raise(C_PF);
        schedulePeriodic();
    }

    private synchronized void updateEnded() {
        raise(C_UF);
        scheduleUpdate();
    }

    /** Sets a flag in C; IRQF and an edge on IRQ 8 when its interrupt is enabled and IRQF was clear. */
    private void raise(int flag) {
        ram[C] |= flag;
        int enabled = (flag == C_PF ? B_PIE : flag == C_UF ? B_UIE : B_AIE) & ram[B];
        if (enabled != 0 && (ram[C] & C_IRQF) == 0) {
            ram[C] |= C_IRQF;
            if (!route.hpetOwnsLegacyIrqs()) {
                irq8.pulse();
            }
        }
    }
}
