package org.example.rng;

import java.security.SecureRandom;
import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ServiceScope;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.Space;

/**
 * A hardware random-number generator on port IO: 0x5f0 reads the signature 'R' (0x52), 0x5f4
 * reads 32 random bits. Prototype-scoped, as every device: each VM gets its own instance.
 */
@Component(scope = ServiceScope.PROTOTYPE)
public class RngDevice implements BusDevice {
    static final int BASE = 0x5f0;
    private final SecureRandom random = new SecureRandom();

    @Override
    public String name() {
        return "example-rng";
    }

    @Override
    public List<Claim> claims() {
        return List.of(new Claim(Space.PIO, BASE, 8));
    }

    @Override
    public long read(Space space, long address, int size) {
        return address == BASE ? 'R' : address == BASE + 4 ? random.nextInt() & 0xffffffffL : 0;
    }

    @Override
    public void write(Space space, long address, int size, long value) {
        // read-only device
    }
}
