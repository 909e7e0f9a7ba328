package io.cloister.devices;

import java.util.ArrayDeque;
import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ServiceScope;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.InterruptLine;
import io.cloister.api.device.Space;

/**
 * A minimal 8042 keyboard controller (ports 0x60 data, 0x64 status/command) with a keyboard that
 * never types: enough for Linux's i8042 probe (self-test 0xaa → 0x55, interface tests, the
 * controller command byte, keyboard ACKs and identify) and for the reset line — command 0xfe, or
 * a pulse or output-port write with bit 0 clear, resets the platform. Keyboard replies raise
 * IRQ 1 while the command byte enables it.
 */
@Component(scope = ServiceScope.PROTOTYPE, property = "device=i8042")
public class I8042 implements BusDevice {
    static final int STATUS_OBF = 0x01;
    static final int STATUS_SYS = 0x04;
    static final int STATUS_CMD = 0x08;

    private final ArrayDeque<Integer> out = new ArrayDeque<>();
    /** The controller command byte: keyboard interrupt on, system flag, translation. */
    int commandByte = 0x45;
    int outputPort = 0x01;
    /** The controller command whose data byte comes next on port 0x60 (0x60, 0xd1), or 0. */
    private int pending;
    private boolean lastWasCommand;
    private int last;
    private DeviceContext context;
    private InterruptLine irq1;

    @Override
    public String name() {
        return "i8042";
    }

    @Override
    public List<Claim> claims() {
        return List.of(new Claim(Space.PIO, 0x60, 1), new Claim(Space.PIO, 0x64, 1));
    }

    @Override
    public synchronized void attach(DeviceContext context) {
        this.context = context;
        this.irq1 = context.interruptLine(1);
    }

    @Override
    public synchronized long read(Space space, long address, int size) {
        if (address == 0x64) {
            return (out.isEmpty() ? 0 : STATUS_OBF) | STATUS_SYS | (lastWasCommand ? STATUS_CMD : 0);
        }
        if (!out.isEmpty()) {
            last = out.poll();
        }
        return last; // an empty buffer reads the last byte again, as the part does
    }

    @Override
    public synchronized void write(Space space, long address, int size, long value) {
        int v = (int) value & 0xff;
        if (address == 0x64) {
            lastWasCommand = true;
            command(v);
        } else {
            lastWasCommand = false;
            data(v);
        }
    }

    private void command(int v) {
        switch (v) {
            case 0x20 -> reply(commandByte, false);
            case 0x60, 0xd1 -> pending = v;
            case 0xaa -> reply(0x55, false); // self-test passed
            case 0xab, 0xa9 -> reply(0x00, false); // keyboard / aux interface test passed
            case 0xad -> commandByte |= 0x10;
            case 0xae -> commandByte &= ~0x10;
            case 0xa7 -> commandByte |= 0x20;
            case 0xa8 -> commandByte &= ~0x20;
            case 0xd0 -> reply(outputPort, false);
            case 0xfe -> reset();
            default -> {
                if ((v & 0xf0) == 0xf0 && (v & 1) == 0) {
                    reset(); // a pulse of output bit 0: the reset line
                }
            }
        }
    }

    private void data(int v) {
        switch (pending) {
            case 0x60 -> commandByte = v;
            case 0xd1 -> {
                outputPort = v;
                if ((v & 1) == 0) {
                    reset();
                }
            }
            default -> keyboard(v);
        }
        pending = 0;
    }

    /** A byte to the keyboard: it acknowledges, and answers reset, identify and echo. */
    private void keyboard(int v) {
        switch (v) {
            case 0xee -> reply(0xee, true);
            case 0xff -> {
                reply(0xfa, true);
                reply(0xaa, true); // basic assurance test passed
            }
            case 0xf2 -> {
                reply(0xfa, true);
                reply(0xab, true);
                reply(0x83, true); // an MF2 keyboard
            }
            default -> reply(0xfa, true);
        }
    }

    private void reply(int b, boolean fromKeyboard) {
        if (out.size() < 16) {
            out.add(b);
        }
        if (fromKeyboard && (commandByte & 0x01) != 0 && irq1 != null) {
            irq1.pulse();
        }
    }

    private void reset() {
        if (context != null) {
            context.reset();
        }
    }
}
