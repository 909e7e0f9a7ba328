package io.cloister.devices;

import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ServiceScope;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.Space;

/**
 * QEMU's isa-debug-exit at port 0xf4: writing v ends the VM with status (v &lt;&lt; 1) | 1, so test
 * guests run unchanged on QEMU and Cloister.
 */
@Component(scope = ServiceScope.PROTOTYPE, property = "device=debug-exit")
public class DebugExit implements BusDevice {
    static final int PORT = 0xf4;
    /** This instance's VM (one instance per VM: the service is prototype-scoped). */
    private volatile DeviceContext vm;

    @Override
    public String name() {
        return "isa-debug-exit";
    }

    @Override
    public List<Claim> claims() {
        return List.of(new Claim(Space.PIO, PORT, 4));
    }

    @Override
    public void attach(DeviceContext context) {
        vm = context;
    }

    @Override
    public long read(Space space, long address, int size) {
        return Bus.allOnes(size);
    }

    @Override
    public void write(Space space, long address, int size, long value) {
        if (address == PORT) {
            vm.exit((int) (((value & 0xff) << 1) | 1));
        }
    }
}
