package io.cloister.devices;

import java.util.ArrayDeque;
import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ServiceScope;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.InterruptLine;
import io.cloister.api.device.Space;

/**
 * An 8042 keyboard controller (ports 0x60 data, 0x64 status/command) with a PS/2 keyboard and no
 * auxiliary (mouse) port: enough for Linux's i8042 and atkbd drivers (controller self-test 0xaa →
 * 0x55, command byte, interface tests, keyboard reset 0xff → fa aa, identify, LEDs, typematic
 * rate, scancode set, enable) and for what Firecracker uses it for — Ctrl-Alt-Del typed into the
 * guest ({@link #ctrlAltDel}) and the reset line (command 0xfe, or an output-port write with bit 0
 * clear, resets the platform).
 *
 * The output buffer holds one byte at a time, as the part does: bytes queued behind it (the rest
 * of a multi-byte reply, the keys of Ctrl-Alt-Del) move into it when the guest has read it, and
 * each keyboard byte that arrives there raises IRQ 1 while the command byte enables it. A driver
 * that takes one byte per interrupt (Linux's) so sees every byte. Keys are the keyboard's scancode
 * set 2 and leave the controller in set 1 while the command byte's translation bit is set (as
 * firmware leaves it and Linux keeps it), as on a PC.
 */
@Component(scope = ServiceScope.PROTOTYPE, property = "device=i8042")
public class I8042 implements BusDevice {
    static final int STATUS_OBF = 0x01;
    static final int STATUS_SYS = 0x04;
    static final int STATUS_CMD = 0x08;
    /** Keyboard not inhibited (the key lock is open); Linux warns "Keylock active" when clear. */
    static final int STATUS_UNLOCKED = 0x10;

    static final int CTR_KBDINT = 0x01;
    static final int CTR_KBDDIS = 0x10;
    static final int CTR_AUXDIS = 0x20;
    static final int CTR_XLATE = 0x40;

    /** Bytes the controller holds for the guest, the output buffer first; at most this many. */
    static final int QUEUE = 16;
    /** A queued byte that came from the keyboard (it interrupts on IRQ 1) rather than from the controller. */
    private static final int FROM_KEYBOARD = 0x100;

    /** A key: its scancodes in set 1 and set 2 (a leading 0xe0 for the extended keys). */
    record Key(int[] set1, int[] set2) {
    }

    static final Key LEFT_CTRL = new Key(new int[] {0x1d}, new int[] {0x14});
    static final Key LEFT_ALT = new Key(new int[] {0x38}, new int[] {0x11});
    static final Key DELETE = new Key(new int[] {0xe0, 0x53}, new int[] {0xe0, 0x71});

    private final ArrayDeque<Integer> out = new ArrayDeque<>();
    /** The controller command byte: keyboard interrupt on, system flag, translation. */
    int commandByte = 0x45;
    int outputPort = 0x01;
    /** The controller command whose data byte comes next on port 0x60 (0x60, 0xd1, 0xd2, 0xd3, 0xd4), or 0. */
    private int pending;
    /** The keyboard command whose parameter byte comes next (0xed, 0xf3, 0xf0), or 0. */
    private int keyboardPending;
    /** The keyboard's scancode set (1, 2 or 3; keys are sent in set 1 for set 1, else in set 2). */
    int scancodeSet = 2;
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
        context.onCtrlAltDel(this::ctrlAltDel);
    }

    @Override
    public synchronized void detach() {
        if (context != null) {
            context.onCtrlAltDel(null);
        }
    }

    @Override
    public synchronized long read(Space space, long address, int size) {
        if (address == 0x64) {
            return (out.isEmpty() ? 0 : STATUS_OBF) | STATUS_SYS | STATUS_UNLOCKED | (lastWasCommand ? STATUS_CMD : 0);
        }
        if (!out.isEmpty()) {
            last = out.poll() & 0xff;
            Integer next = out.peek();
            if (next != null && (next & FROM_KEYBOARD) != 0) {
                interrupt(); // the next byte has moved into the output buffer
            }
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

    /**
     * Firecracker's SendCtrlAltDel: Ctrl, Alt and Delete pressed and released, as the keyboard
     * sends them; all of them or, if the controller cannot hold them (a guest that does not read
     * its keyboard), none (EBUSY).
     */
    synchronized void ctrlAltDel() {
        Key[] keys = {LEFT_CTRL, LEFT_ALT, DELETE};
        java.util.List<Integer> bytes = new java.util.ArrayList<>();
        for (Key k : keys) {
            bytes.addAll(codes(k, false));
        }
        for (int i = keys.length - 1; i >= 0; i--) {
            bytes.addAll(codes(keys[i], true));
        }
        if (out.size() + bytes.size() > QUEUE) {
            throw new CloisterException(Errno.EBUSY, "the i8042's buffer is full (the guest does not read its keyboard)");
        }
        bytes.forEach(b -> fromKeyboard(b));
    }

    /** A key's make or break codes as they leave the controller: set 1 if translated or in set 1, else set 2. */
    List<Integer> codes(Key key, boolean release) {
        java.util.List<Integer> b = new java.util.ArrayList<>();
        if ((commandByte & CTR_XLATE) != 0 || scancodeSet == 1) {
            for (int i = 0; i < key.set1().length; i++) {
                boolean code = i == key.set1().length - 1; // the last byte is the key; 0xe0 is a prefix
                b.add(code && release ? key.set1()[i] | 0x80 : key.set1()[i]);
            }
        } else {
            for (int i = 0; i < key.set2().length; i++) {
                if (release && i == key.set2().length - 1) {
                    b.add(0xf0); // set 2's break prefix, just before the key's own code
                }
                b.add(key.set2()[i]);
            }
        }
        return b;
    }

    private void command(int v) {
        switch (v) {
            case 0x20 -> reply(commandByte);
            case 0x60, 0xd1, 0xd2, 0xd3, 0xd4 -> pending = v;
            case 0xaa -> reply(0x55); // self-test passed
            case 0xab -> reply(0x00); // keyboard interface test passed
            // No auxiliary port: its interface test fails ("clock line stuck low"), so a driver
            // that probes it directly gives it up at once.
            case 0xa9 -> reply(0x01);
            case 0xad -> commandByte |= CTR_KBDDIS;
            case 0xae -> commandByte &= ~CTR_KBDDIS;
            case 0xa7 -> commandByte |= CTR_AUXDIS;
            case 0xa8 -> commandByte &= ~CTR_AUXDIS;
            case 0xd0 -> reply(outputPort);
            case 0xfe -> reset();
            default -> {
                if ((v & 0xf0) == 0xf0 && (v & 1) == 0) {
                    reset(); // a pulse of output bit 0: the reset line
                }
            }
        }
    }

    private void data(int v) {
        int p = pending;
        pending = 0;
        switch (p) {
            case 0x60 -> commandByte = v;
            case 0xd1 -> {
                outputPort = v;
                if ((v & 1) == 0) {
                    reset();
                }
            }
            case 0xd2 -> fromKeyboard(v); // "write keyboard output buffer": as if the keyboard sent it
            case 0xd3, 0xd4 -> { } // to the auxiliary port, which is not there
            default -> keyboard(v);
        }
    }

    /** A byte to the keyboard: it acknowledges (0xfa) and answers reset, identify, echo and the scancode set. */
    private void keyboard(int v) {
        int p = keyboardPending;
        keyboardPending = 0;
        if (p == 0xf0) {
            if (v == 0) {
                fromKeyboard(0xfa);
                // Translated, the set's number leaves the controller as set 1 translates it (QEMU does too).
                fromKeyboard((commandByte & CTR_XLATE) != 0 ? new int[] {0, 0x43, 0x41, 0x3f}[scancodeSet] : scancodeSet);
                return;
            }
            if (v >= 1 && v <= 3) {
                scancodeSet = v;
                fromKeyboard(0xfa);
                return;
            }
            fromKeyboard(0xfe); // resend: not a set
            return;
        }
        if (p == 0xed || p == 0xf3) {
            fromKeyboard(0xfa); // the LEDs or the typematic rate: nothing to show or repeat
            return;
        }
        switch (v) {
            case 0xee -> fromKeyboard(0xee);
            case 0xff -> {
                out.clear();
                scancodeSet = 2;
                fromKeyboard(0xfa);
                fromKeyboard(0xaa); // basic assurance test passed
            }
            case 0xf2 -> {
                fromKeyboard(0xfa);
                fromKeyboard(0xab);
                fromKeyboard((commandByte & CTR_XLATE) != 0 ? 0x41 : 0x83); // an MF2 keyboard (0x83 translates to 0x41)
            }
            case 0xed, 0xf3, 0xf0 -> {
                keyboardPending = v;
                fromKeyboard(0xfa);
            }
            case 0xf6, 0xf5 -> {
                scancodeSet = 2;
                fromKeyboard(0xfa);
            }
            default -> fromKeyboard(0xfa);
        }
    }

    /** A controller reply: what was waiting is dropped, so the reply is what the guest reads next (as Firecracker does). */
    private void reply(int b) {
        out.clear();
        out.add(b);
    }

    private void fromKeyboard(int b) {
        if (out.size() >= QUEUE) {
            return; // overrun: the keyboard's byte is lost, as a full buffer loses it
        }
        out.add(b | FROM_KEYBOARD);
        if (out.size() == 1) {
            interrupt(); // straight into the output buffer
        }
    }

    private void interrupt() {
        if ((commandByte & CTR_KBDINT) != 0 && irq1 != null) {
            irq1.pulse();
        }
    }

    private void reset() {
        if (context != null) {
            context.reset();
        }
    }
}
