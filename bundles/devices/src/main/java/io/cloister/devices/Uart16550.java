package io.cloister.devices;

import java.io.IOException;
import java.io.OutputStream;
import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ServiceScope;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.ConsoleInput;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.InterruptLine;
import io.cloister.api.device.Space;
import io.cloister.api.device.VmClock;

/**
 * COM1: a 16550A UART at 0x3f8 on IRQ 4 (National Semiconductor PC16550D datasheet), the part
 * Linux's 8250 driver detects as "16550A". Transmitted bytes go to the VM's console at once (the
 * transmitter is always empty again by the next access); received bytes come from the console's
 * input into a 16-byte receive FIFO (one holding register with the FIFOs off), taken only as there
 * is room: input waits at its source rather than overrunning. Interrupts by the datasheet's
 * priorities: receiver line status (overrun), received data at the FIFO's trigger level or a
 * character timeout (4 character times without a read while data sits below the trigger level),
 * transmitter holding register empty, modem status. As on a PC, the interrupt reaches IRQ 4 only
 * while MCR OUT2 is set and loopback is off. In loopback (MCR bit 4) transmitted bytes come back
 * into the receiver, the modem inputs follow the modem outputs, and the console input waits.
 */
@Component(scope = ServiceScope.PROTOTYPE, property = "device=uart")
public class Uart16550 implements BusDevice {
    static final int BASE = 0x3f8;
    static final int IRQ = 4;
    static final int FIFO_SIZE = 16;
    /** Input clock over 16: the baud rate at divisor 1. */
    static final long BAUD_BASE = 115_200;

    static final int IER_RDA = 0x01;
    static final int IER_THRE = 0x02;
    static final int IER_RLS = 0x04;
    static final int IER_MSR = 0x08;
    static final int IIR_NONE = 0x01;
    static final int IIR_MSR = 0x00;
    static final int IIR_THRE = 0x02;
    static final int IIR_RDA = 0x04;
    static final int IIR_RLS = 0x06;
    static final int IIR_TIMEOUT = 0x0c;
    static final int IIR_FIFOS = 0xc0;
    static final int FCR_ENABLE = 0x01;
    static final int FCR_CLEAR_RX = 0x02;
    static final int LSR_DR = 0x01;
    static final int LSR_OE = 0x02;
    static final int LSR_THRE = 0x20;
    static final int LSR_TEMT = 0x40;
    static final int LCR_DLAB = 0x80;
    static final int MCR_OUT2 = 0x08;
    static final int MCR_LOOP = 0x10;
    /** MSR when not in loopback: DCD, DSR and CTS asserted (a terminal is there), RI not. */
    static final int MSR_CONNECTED = 0xb0;
    /** Receive FIFO trigger levels by FCR bits 7:6. */
    private static final int[] TRIGGER = {1, 4, 8, 14};

    private final int[] fifo = new int[FIFO_SIZE];
    private int head;
    private int count;
    private int rbr;
    private int ier;
    private int lcr;
    private int mcr;
    private int fcr;
    private int scr;
    private int dll = 0x0c; // 9600 baud
    private int dlm;
    /** LSR error bits (overrun); cleared by reading the LSR. */
    private int lsrErrors;
    /** THRE interrupt pending: set when the holding register empties, cleared by an IIR read that reports it or a THR write. */
    private boolean thrPending;
    /** Character timeout pending: cleared by reading the RBR. */
    private boolean timeoutPending;
    /** MSR delta bits (DCTS, DDSR, TERI, DDCD), cleared by reading the MSR. */
    private int msrDeltas;
    /** The level last driven on IRQ 4. */
    private boolean irqLevel;

    private OutputStream console = OutputStream.nullOutputStream();
    private ConsoleInput input = ConsoleInput.NONE;
    private InterruptLine irq;
    private VmClock clock;
    private VmClock.Timer timeout;

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
        synchronized (this) {
            console = context.console();
            input = context.consoleInput();
            irq = context.interruptLine(IRQ);
            clock = context.clock();
            timeout = clock.timer(this::timedOut);
        }
        // Outside the monitor: the source may call back at once with bytes already waiting.
        input.onAvailable(this::inputArrived);
    }

    @Override
    public void detach() {
        ConsoleInput in;
        synchronized (this) {
            in = input;
            input = ConsoleInput.NONE;
            if (timeout != null) {
                timeout.cancel();
            }
            try {
                console.flush();
            } catch (IOException e) {
                // the console is gone with the VM
            }
        }
        in.onAvailable(null);
    }

    @Override
    public synchronized long read(Space space, long address, int size) {
        int v = switch ((int) (address - BASE)) {
            case 0 -> (lcr & LCR_DLAB) != 0 ? dll : readRbr();
            case 1 -> (lcr & LCR_DLAB) != 0 ? dlm : ier;
            case 2 -> readIir();
            case 3 -> lcr;
            case 4 -> mcr;
            case 5 -> readLsr();
            case 6 -> readMsr();
            default -> scr;
        };
        update();
        return v;
    }

    @Override
    public synchronized void write(Space space, long address, int size, long value) {
        int v = (int) (value & 0xff);
        switch ((int) (address - BASE)) {
            case 0 -> {
                if ((lcr & LCR_DLAB) != 0) {
                    dll = v;
                } else {
                    writeThr(v);
                }
            }
            case 1 -> {
                if ((lcr & LCR_DLAB) != 0) {
                    dlm = v;
                } else {
                    writeIer(v);
                }
            }
            case 2 -> writeFcr(v);
            case 3 -> lcr = v;
            case 4 -> writeMcr(v);
            case 7 -> scr = v;
            default -> { } // LSR and MSR are read-only (factory test use only)
        }
        update();
    }

    private boolean fifoMode() {
        return (fcr & FCR_ENABLE) != 0;
    }

    private int capacity() {
        return fifoMode() ? FIFO_SIZE : 1;
    }

    private int trigger() {
        return TRIGGER[fcr >> 6];
    }

    private boolean loopback() {
        return (mcr & MCR_LOOP) != 0;
    }

    private int readRbr() {
        if (count > 0) {
            rbr = fifo[head];
            head = (head + 1) % FIFO_SIZE;
            count--;
        }
        timeoutPending = false;
        refill();
        restartTimeout();
        return rbr; // an empty receiver reads the last byte again
    }

    /** The pending interrupt of highest priority, with the FIFO bits. */
    private int iir() {
        int id;
        if ((ier & IER_RLS) != 0 && lsrErrors != 0) {
            id = IIR_RLS;
        } else if ((ier & IER_RDA) != 0 && count > 0 && (!fifoMode() || count >= trigger())) {
            id = IIR_RDA;
        } else if ((ier & IER_RDA) != 0 && timeoutPending) {
            id = IIR_TIMEOUT;
        } else if ((ier & IER_THRE) != 0 && thrPending) {
            id = IIR_THRE;
        } else if ((ier & IER_MSR) != 0 && msrDeltas != 0) {
            id = IIR_MSR;
        } else {
            id = IIR_NONE;
        }
        return id | (fifoMode() ? IIR_FIFOS : 0);
    }

    private int readIir() {
        int v = iir();
        if ((v & 0x0f) == IIR_THRE) {
            thrPending = false; // reading the IIR that reports THRE is what clears it
        }
        return v;
    }

    private int readLsr() {
        int v = (count > 0 ? LSR_DR : 0) | lsrErrors | LSR_THRE | LSR_TEMT;
        lsrErrors = 0;
        return v;
    }

    private int readMsr() {
        int v = modemInputs() | msrDeltas;
        msrDeltas = 0;
        return v;
    }

    /** CTS, DSR, RI, DCD in MSR bits 4-7: in loopback they are RTS, DTR, OUT1, OUT2. */
    private int modemInputs() {
        if (!loopback()) {
            return MSR_CONNECTED;
        }
        int m = mcr;
        return ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4);
    }

    private void writeThr(int b) {
        thrPending = false;
        update(); // the THRE interrupt drops with the write ...
        if (loopback()) {
            receive(b);
        } else {
            transmit(b);
        }
        thrPending = true; // ... and comes back as the byte leaves: a new edge on IRQ 4
    }

    /**
     * Turning THRE's interrupt on while the holding register is empty raises it, even when an IIR
     * read had cleared it (QEMU and Bochs do this; Linux's THRE and TXEN tests at start-up expect it).
     */
    private void writeIer(int v) {
        int changed = (ier ^ v) & IER_THRE;
        ier = v & 0x0f;
        if (changed != 0) {
            thrPending = (ier & IER_THRE) != 0;
        }
    }

    private void writeFcr(int v) {
        if (((fcr ^ v) & FCR_ENABLE) != 0 || (v & FCR_CLEAR_RX) != 0) {
            count = 0; // changing the FIFO enable clears both FIFOs, as does the reset bit
            head = 0;
            timeoutPending = false;
        }
        fcr = v & 0xc9; // trigger level, DMA mode, enable; the reset bits clear themselves
        refill();
        restartTimeout();
    }

    private void writeMcr(int v) {
        int before = modemInputs();
        boolean wasLoop = loopback();
        mcr = v & 0x1f;
        int after = modemInputs();
        int changed = before ^ after;
        // DCTS, DDSR, DDCD on any change; TERI only on RI's trailing edge.
        msrDeltas |= ((changed >> 4) & 0x0b) | ((before & ~after & 0x40) >> 4);
        if (wasLoop && !loopback()) {
            refill(); // the console's input is connected again
        }
    }

    /** A byte into the receiver: the FIFO, or an overrun that loses it (FIFO mode) or the byte held (16450 mode). */
    private void receive(int b) {
        if (count < capacity()) {
            fifo[(head + count) % FIFO_SIZE] = b;
            count++;
        } else {
            lsrErrors |= LSR_OE;
            if (!fifoMode()) {
                fifo[head] = b;
            }
        }
        restartTimeout();
    }

    /** Takes console input while there is room (not in loopback: the serial input is disconnected then). */
    private void refill() {
        boolean took = false;
        while (count < capacity() && !loopback()) {
            int b = input.read();
            if (b < 0) {
                break;
            }
            fifo[(head + count) % FIFO_SIZE] = b & 0xff;
            count++;
            took = true;
        }
        if (took) {
            restartTimeout();
        }
    }

    private void inputArrived() {
        synchronized (this) {
            refill();
            update();
        }
    }

    /** The character timeout counts 4 character times from the last byte received or read. */
    private void restartTimeout() {
        if (timeout == null) {
            return;
        }
        if (fifoMode() && count > 0) {
            timeout.arm(clock.nanos() + 4 * charNanos());
        } else {
            timeout.cancel();
        }
    }

    private synchronized void timedOut() {
        if (fifoMode() && count > 0) {
            timeoutPending = true;
            update();
        }
    }

    /** One character's time on the line: start bit, 5-8 data bits, parity, 1 or 2 stop bits, at the divisor's baud rate. */
    long charNanos() {
        int divisor = Math.max(1, dlm << 8 | dll);
        int bits = 1 + 5 + (lcr & 0x03) + ((lcr & 0x08) != 0 ? 1 : 0) + ((lcr & 0x04) != 0 ? 2 : 1);
        return bits * 1_000_000_000L * divisor / BAUD_BASE;
    }

    /** Drives IRQ 4: an interrupt is pending, and OUT2 (the PC's interrupt enable) is on outside loopback. */
    private void update() {
        boolean level = (iir() & IIR_NONE) == 0 && (mcr & MCR_OUT2) != 0 && !loopback();
        if (level != irqLevel && irq != null) {
            irqLevel = level;
            irq.set(level);
        }
    }

    private void transmit(int b) {
        try {
            console.write(b);
            if (b == '\n') {
                console.flush();
            }
        } catch (IOException e) {
            throw new IllegalStateException("console write failed: " + e.getMessage(), e);
        }
    }
}
