package io.cloister.devices;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.device.ConsoleInput;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.DmaView;
import io.cloister.api.device.InterruptLine;
import io.cloister.api.device.VmClock;

/**
 * What a device test gives a device: a hand-moved clock, a console to read back, no guest memory,
 * and a record of what the device did to the VM ("irq4+", "irq4-", "exit 3", "poweroff", "reset").
 */
class TestContext implements DeviceContext {
    final HandClock clock = new HandClock();
    final ByteArrayOutputStream console = new ByteArrayOutputStream();
    final List<String> events = new ArrayList<>();
    final TypedInput input = new TypedInput();

    @Override
    public String vmName() {
        return "vm";
    }

    @Override
    public DmaView dma() {
        return new DmaView() {
            @Override
            public void read(long gpa, MemorySegment dst) {
                throw new CloisterException(Errno.EFAULT, "no memory in this test");
            }

            @Override
            public void write(long gpa, MemorySegment src) {
                throw new CloisterException(Errno.EFAULT, "no memory in this test");
            }
        };
    }

    @Override
    public void exit(int status) {
        events.add("exit " + status);
    }

    @Override
    public void powerOff() {
        events.add("poweroff");
    }

    /** What the keyboard controller registered for Ctrl-Alt-Del, or null. */
    Runnable ctrlAltDel;

    @Override
    public void onCtrlAltDel(Runnable sendKeys) {
        ctrlAltDel = sendKeys;
    }

    @Override
    public void reset() {
        events.add("reset");
    }

    @Override
    public OutputStream console() {
        return console;
    }

    @Override
    public ConsoleInput consoleInput() {
        return input;
    }

    @Override
    public InterruptLine interruptLine(int irq) {
        // Not final: a test of the whole bus routes the lines to the bus's interrupt controllers.
        return asserted -> events.add("irq" + irq + (asserted ? "+" : "-"));
    }

    @Override
    public VmClock clock() {
        return clock;
    }
}
