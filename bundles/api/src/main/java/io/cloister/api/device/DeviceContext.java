package io.cloister.api.device;

import java.io.OutputStream;

import org.osgi.annotation.versioning.ProviderType;

/**
 * What a device may use of the VM it is attached to: the outer circle's only handle on a VM.
 * Nothing here leads to memory control (files, bindings, conversions, the guest's own view).
 */
@ProviderType
public interface DeviceContext {
    String vmName();

    /** Guest memory as the backend lets devices see it (shared pages only). */
    DmaView dma();

    /** Ends the VM with this exit status (as QEMU's isa-debug-exit does). */
    void exit(int status);

    /**
     * The guest powered the platform off (ACPI S5): the VM ends with status 0. The default, for
     * contexts older than this method, is {@code exit(0)}.
     */
    default void powerOff() {
        exit(0);
    }

    /**
     * The guest reset the platform (the 8042's reset line, the ACPI reset register). The VMM ends
     * the VM or restarts it, as its configuration says.
     */
    void reset();

    /** The VM's console: stdout, or a file by configuration. */
    OutputStream console();

    /** What the VM's console receives (stdin of {@code vmm run}); {@link ConsoleInput#NONE} where there is no input. */
    default ConsoleInput consoleInput() {
        return ConsoleInput.NONE;
    }

    /**
     * The VM's keyboard controller registers here what types Ctrl-Alt-Del into the guest
     * ({@link io.cloister.api.vm.VirtualMachine#sendCtrlAltDel}, Firecracker's SendCtrlAltDel);
     * null when it goes. The VMM runs it under the bus lock, like an access; it may throw a
     * {@link io.cloister.api.CloisterException} (EBUSY: no room for the keys). Contexts older than
     * this method have no keyboard.
     */
    default void onCtrlAltDel(Runnable sendKeys) {
    }

    /** Interrupt line {@code irq} of the platform (0-23, see {@link InterruptLine}); EINVAL outside. */
    InterruptLine interruptLine(int irq);

    /** The VM's clock and timers. */
    VmClock clock();
}
