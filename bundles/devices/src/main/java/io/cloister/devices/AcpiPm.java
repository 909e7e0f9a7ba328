package io.cloister.devices;

import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ServiceScope;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.Space;

/**
 * The platform's power and reset registers, where the VM's FADT says they are: the ACPI PM1a
 * event block at 0x600 (PM1_STS, write 1 to clear; PM1_EN) and control block at 0x604 (PM1_CNT),
 * as QEMU's PIIX4 PM has them, and the reset control register at 0xcf9 (the FADT's RESET_REG,
 * value 0x06). Writing PM1_CNT with SLP_EN and the sleep type of S5 (the DSDT's \_S5 says
 * {@link #SLP_TYP_S5}) powers the VM off: what Linux's acpi_power_off does. Writing 0xcf9 with
 * RST_CPU (bit 2) resets the platform. ACPI is always on (no SMI command port): SCI_EN reads 1.
 * No event ever sets a status bit, so the SCI never fires. Other sleep states are not offered
 * (the DSDT has no \_S1-\_S4), and a write of one is ignored.
 */
@Component(scope = ServiceScope.PROTOTYPE, property = "device=acpi-pm")
public class AcpiPm implements BusDevice {
    static final int PM1_EVT = 0x600;
    static final int PM1_CNT = 0x604;
    static final int RESET_PORT = 0xcf9;
    /** The SLP_TYP of S5 (soft off) in PM1_CNT bits 12:10; the DSDT's \_S5 package names it. */
    public static final int SLP_TYP_S5 = 5;
    static final int SCI_EN = 0x0001;
    static final int SLP_EN = 0x2000;
    static final int RST_CPU = 0x04;

    private int status;
    private int enable;
    /** PM1_CNT's read/write bits (BM_RLD, GBL_RLS, SLP_TYP); SLP_EN is write-only. */
    private int control;
    private int resetControl;
    private DeviceContext context;

    @Override
    public String name() {
        return "acpi-pm";
    }

    @Override
    public List<Claim> claims() {
        return List.of(new Claim(Space.PIO, PM1_EVT, 4), new Claim(Space.PIO, PM1_CNT, 2), new Claim(Space.PIO, RESET_PORT, 1));
    }

    @Override
    public synchronized void attach(DeviceContext context) {
        this.context = context;
    }

    /** Registers as little-endian bytes, so 1-, 2- and 4-byte accesses all work, as on the part. */
    @Override
    public synchronized long read(Space space, long address, int size) {
        long v = 0;
        for (int i = size - 1; i >= 0; i--) {
            v = v << 8 | readByte(address + i);
        }
        return v;
    }

    private int readByte(long port) {
        int r;
        int shift;
        if (port == RESET_PORT) {
            return resetControl;
        } else if (port < PM1_EVT + 2) {
            r = status;
            shift = (int) (port - PM1_EVT);
        } else if (port < PM1_CNT) {
            r = enable;
            shift = (int) (port - PM1_EVT - 2);
        } else {
            r = control | SCI_EN;
            shift = (int) (port - PM1_CNT);
        }
        return (r >> (shift * 8)) & 0xff;
    }

    @Override
    public synchronized void write(Space space, long address, int size, long value) {
        if (address == RESET_PORT) {
            resetControl = (int) value & 0x0a; // SYS_RST and FULL_RST hold; RST_CPU is a trigger
            if ((value & RST_CPU) != 0 && context != null) {
                context.reset();
            }
            return;
        }
        // Split the access over the registers it covers (a 4-byte write to 0x600 sets both halves).
        for (int i = 0; i < size; ) {
            long port = address + i;
            int regBase = port < PM1_EVT + 2 ? PM1_EVT : port < PM1_CNT ? PM1_EVT + 2 : PM1_CNT;
            int offset = (int) (port - regBase);
            int n = Math.min(size - i, 2 - offset);
            int v = (int) (value >>> (i * 8)) & ((1 << (n * 8)) - 1);
            int mask = ((1 << (n * 8)) - 1) << (offset * 8);
            v <<= offset * 8;
            switch (regBase) {
                case PM1_EVT -> status &= ~(v & mask); // write 1 to clear
                case PM1_EVT + 2 -> enable = (enable & ~mask) | (v & mask);
                default -> writeControl((control & ~mask) | (v & mask));
            }
            i += n;
        }
    }

    private void writeControl(int v) {
        control = v & 0x1c06; // SLP_TYP, GBL_RLS, BM_RLD
        if ((v & SLP_EN) != 0 && ((v >> 10) & 7) == SLP_TYP_S5 && context != null) {
            context.powerOff();
        }
    }
}
