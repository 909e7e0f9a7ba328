package io.cloister.devices;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.osgi.service.component.annotations.Component;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.Space;

/**
 * QEMU's isa-debug-exit at port 0xf4: writing v ends the VM with status (v &lt;&lt; 1) | 1, so test
 * guests run unchanged on QEMU and Cloister.
 */
@Component(property = "device=debug-exit")
public class DebugExit implements BusDevice {
    static final int PORT = 0xf4;
    private final Map<String, DeviceContext> vms = new ConcurrentHashMap<>();

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
        vms.put(context.vmName(), context);
    }

    @Override
    public void detach(String vmName) {
        vms.remove(vmName);
    }

    @Override
    public long read(String vmName, Space space, long address, int size) {
        return Bus.allOnes(size);
    }

    @Override
    public void write(String vmName, Space space, long address, int size, long value) {
        if (address == PORT) {
            vms.get(vmName).exit((int) (((value & 0xff) << 1) | 1));
        }
    }
}
