package io.cloister.devices;

import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;

import io.cloister.api.device.DeviceContext;

/**
 * Whether a VM's HPET has taken IRQ 0 and IRQ 8 (its general configuration's LEG_RT_CNF). On a
 * PC, legacy replacement disconnects the 8254's and the RTC's interrupt outputs from those lines
 * (IA-PC HPET specification 1.0a, 2.3.8.1): the PIT counts on (port 0x61 still shows OUT2) but
 * interrupts no more, nor does the RTC. The three are separate device instances of one VM, which
 * share only their DeviceContext, so the route is kept per context (weakly: it goes with the VM).
 */
final class LegacyRoute {
    private static final Map<DeviceContext, LegacyRoute> ROUTES = Collections.synchronizedMap(new WeakHashMap<>());

    private volatile boolean hpet;

    private LegacyRoute() {
    }

    static LegacyRoute of(DeviceContext context) {
        return ROUTES.computeIfAbsent(context, c -> new LegacyRoute());
    }

    /** True while the HPET drives IRQ 0 and IRQ 8: the PIT and the RTC must not. */
    boolean hpetOwnsLegacyIrqs() {
        return hpet;
    }

    void hpetOwnsLegacyIrqs(boolean on) {
        hpet = on;
    }
}
