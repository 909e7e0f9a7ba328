package io.cloister.vmm;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.restricted.PageState;
import io.cloister.api.vm.VmState;
import io.cloister.internal.boot.Boot;

/**
 * A VM's answer to a guest that reset the platform, with --on-reset restart (VmRegistry's
 * setting): the old machine is closed, the kernel, initrd and ACPI tables are loaded again over
 * RAM (which a reset keeps, as on a PC) and the VM boots a new machine with fresh devices. Where
 * the host cannot load the images again the VM ends as with --on-reset exit, with
 * {@link Machine#RESET_STATUS}.
 */
final class Reboot {
    private static final Logger LOG = LoggerFactory.getLogger(Reboot.class);
    private final Vm vm;
    private final Vm.Spec spec;
    private final Platform platform;
    /** Whether a reset of the guest boots it again (--on-reset restart) instead of ending the VM. */
    private volatile boolean onReset;

    Reboot(Vm vm, Vm.Spec spec, Platform platform) {
        this.vm = vm;
        this.spec = spec;
        this.platform = platform;
    }

    void onReset(boolean restart) {
        onReset = restart;
    }

    /** Whether a reset boots the guest again; asked by the machine when its guest resets. */
    boolean onReset() {
        return onReset;
    }

    /**
     * The guest reset the platform and is to boot again: called by the vCPU thread that reports
     * the end of {@code old}'s guest. The reboot runs on a thread of its own, since closing the old
     * machine waits for its vCPU threads, this one among them.
     */
    void guestReset(Machine old) {
        Thread.ofPlatform().name("restart-" + spec.name()).start(() -> reboot(old));
    }

    /** Under the VM's monitor, which serialises its control operations (a stop, a swap). */
    private void reboot(Machine old) {
        synchronized (vm) {
            if (vm.machine() != old || vm.state() != VmState.RUNNING) {
                return; // stopped, or swapped, meanwhile
            }
            old.close();
            vm.machineClosed();
            Backend b = vm.currentBackend();
            String refused = b == null ? "no backend" : b.policy().initialState() == PageState.PRIVATE
                    ? "backend " + b.name() + " keeps the guest's memory private, so the host cannot load the image again" : null;
            Boot.Booted images = null;
            if (refused == null) {
                try {
                    images = Machine.load(vm.memory(), spec, platform.devices());
                } catch (RuntimeException e) {
                    refused = e.getMessage();
                }
            }
            if (refused != null) {
                vm.guestStopped(Machine.RESET_STATUS, "the guest reset the platform; not restarted: " + refused, false);
                return;
            }
            vm.event("the guest reset the platform: restarting");
            LOG.info("VM {}: the guest reset the platform: restarting", spec.name());
            vm.bootAgain(images);
        }
    }
}
