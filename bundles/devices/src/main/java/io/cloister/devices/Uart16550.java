package io.cloister.devices;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayDeque;
import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ServiceScope;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.Space;

/**
 * COM1: a 16550A UART at 0x3f8 with the register model Linux's 8250 driver probes (divisor
 * latch, FIFO control, IIR/IER/LCR/MCR/LSR/MSR, scratch, loopback). Transmitted bytes go to the
 * VM console. No interrupt line is wired yet, so IIR always reads "no interrupt pending"; there is
 * no receive side except loopback.
 */
@Component(scope = ServiceScope.PROTOTYPE, property = "device=uart")
public class Uart16550 implements BusDevice {
    static final int BASE = 0x3f8;
    static final int LSR_DR = 0x01;
    static final int LSR_THRE = 0x20;
    static final int LSR_TEMT = 0x40;
    static final int LCR_DLAB = 0x80;
    static final int MCR_LOOP = 0x10;

    /** Register state; accessed by the VM's vCPUs under its monitor. */
    static final class Regs {
        OutputStream console = OutputStream.nullOutputStream();
        int ier;
        int lcr;
        int mcr;
        int fcr;
        int scr;
        int dll = 0x0c; // 9600 baud
        int dlm;
        final ArrayDeque<Integer> rx = new ArrayDeque<>();
    }

    /** This instance's VM's UART (one instance per VM: the service is prototype-scoped). */
    private final Regs r = new Regs();

    @Override
    public String name() {
        return "uart16550";
    }

    @Override
    public List<Claim> claims() {
        return List.of(new Claim(Space.PIO, BASE, 8));
    }

    @Override
    public void attach(DeviceContext context) {
        synchronized (r) {
            r.console = context.console();
        }
    }

    @Override
    public void detach() {
        synchronized (r) {
            flush(r);
        }
    }

    @Override
    public long read(Space space, long address, int size) {
        synchronized (r) {
            return switch ((int) (address - BASE)) {
                case 0 -> (r.lcr & LCR_DLAB) != 0 ? r.dll : r.rx.isEmpty() ? 0 : r.rx.poll();
                case 1 -> (r.lcr & LCR_DLAB) != 0 ? r.dlm : r.ier;
                case 2 -> ((r.fcr & 1) != 0 ? 0xc0 : 0) | 0x01; // FIFOs enabled?, no interrupt pending
                case 3 -> r.lcr;
                case 4 -> r.mcr;
                case 5 -> LSR_THRE | LSR_TEMT | (r.rx.isEmpty() ? 0 : LSR_DR);
                case 6 -> msr(r);
                default -> r.scr;
            };
        }
    }

    /** In loopback the modem inputs follow the outputs: CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2. */
    private static int msr(Regs r) {
        if ((r.mcr & MCR_LOOP) == 0) {
            return 0xb0; // DCD, DSR, CTS asserted: a terminal is there
        }
        int m = r.mcr;
        return ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4);
    }

    @Override
    public void write(Space space, long address, int size, long value) {
        int v = (int) (value & 0xff);
        synchronized (r) {
            switch ((int) (address - BASE)) {
                case 0 -> {
                    if ((r.lcr & LCR_DLAB) != 0) {
                        r.dll = v;
                    } else if ((r.mcr & MCR_LOOP) != 0) {
                        if (r.rx.size() < 16) {
                            r.rx.add(v);
                        }
                    } else {
                        transmit(r, v);
                    }
                }
                case 1 -> {
                    if ((r.lcr & LCR_DLAB) != 0) {
                        r.dlm = v;
                    } else {
                        r.ier = v & 0x0f;
                    }
                }
                case 2 -> {
                    r.fcr = v;
                    if ((v & 0x02) != 0) {
                        r.rx.clear();
                    }
                }
                case 3 -> r.lcr = v;
                case 4 -> r.mcr = v & 0x1f;
                case 7 -> r.scr = v;
                default -> { } // LSR and MSR are read-only
            }
        }
    }

    private static void transmit(Regs r, int b) {
        try {
            r.console.write(b);
            if (b == '\n') {
                r.console.flush();
            }
        } catch (IOException e) {
            throw new IllegalStateException("console write failed: " + e.getMessage(), e);
        }
    }

    private static void flush(Regs r) {
        try {
            r.console.flush();
        } catch (IOException e) {
            // the console is gone with the VM
        }
    }
}
