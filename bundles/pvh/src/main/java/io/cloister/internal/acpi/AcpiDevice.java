package io.cloister.internal.acpi;

import java.util.ArrayList;
import java.util.List;

import io.cloister.api.device.Claim;
import io.cloister.api.device.Space;

/**
 * A device as the DSDT describes it: a Device(name) under \_SB with a _HID, a _UID and the
 * resources of its _CRS. The platform's devices are recognised from what they claim on the bus
 * ({@link #of}); a device kind that needs more (a virtio-mmio transport: LNRO0005, its window and
 * its interrupt) is one more constructor here and one more case in {@link #of}.
 *
 * @param name the AML name (up to four characters A-Z, 0-9, '_')
 * @param hid an EISA id (PNP0501) or a string id (LNRO0005)
 */
public record AcpiDevice(String name, String hid, int uid, List<Resource> resources) {
    /** Where an I/O APIC-routed or ISA device's registers and interrupt are. */
    public sealed interface Resource {
    }

    /** A fixed range of I/O ports. */
    public record Io(int base, int length) implements Resource {
    }

    /** An ISA IRQ (0-15), edge-triggered and active-high. */
    public record IsaIrq(int irq) implements Resource {
    }

    /** A fixed 32-bit MMIO range. */
    public record Memory32(long base, long length, boolean writable) implements Resource {
    }

    /** An interrupt by global system interrupt number (I/O APIC pin), for devices beyond the ISA IRQs. */
    public record Interrupt(long gsi, boolean level, boolean activeLow) implements Resource {
    }

    public AcpiDevice {
        Aml.nameString(name); // refuses a bad name now, not when the DSDT is built
        resources = List.copyOf(resources);
    }

    static final int COM1_PORT = 0x3f8;
    static final int COM2_PORT = 0x2f8;
    static final int RTC_PORT = 0x70;
    static final int KBD_DATA_PORT = 0x60;
    /** The reset control register, the FADT's RESET_REG (as on QEMU's PC). */
    static final int RESET_PORT = 0xcf9;
    /** The HPET's MMIO block, as Cloister's (and every PC's) HPET decodes it. */
    public static final long HPET_BASE = 0xfed00000L;

    /** A 16550 UART at one of the PC's standard places (COM1: 0x3f8, IRQ 4; COM2: 0x2f8, IRQ 3). */
    public static AcpiDevice serial(int port) {
        return switch (port) {
            case COM1_PORT -> new AcpiDevice("COM1", "PNP0501", 1, List.of(new Io(COM1_PORT, 8), new IsaIrq(4)));
            case COM2_PORT -> new AcpiDevice("COM2", "PNP0501", 2, List.of(new Io(COM2_PORT, 8), new IsaIrq(3)));
            default -> throw new IllegalArgumentException("no standard serial port at 0x" + Integer.toHexString(port));
        };
    }

    /** The HPET (its interrupts are routed by its own registers, so its _CRS has only the block). */
    public static AcpiDevice hpet() {
        return new AcpiDevice("HPET", "PNP0103", 0, List.of(new Memory32(HPET_BASE, 0x400, false)));
    }

    /**
     * The 8042's keyboard port (data 0x60, status/command 0x64, IRQ 1), as QEMU's DSDT has it:
     * Linux's i8042 driver finds the controller through this PNP node (and, with no PS/2 mouse node
     * beside it, leaves the auxiliary port alone) instead of probing the ports blindly.
     */
    public static AcpiDevice keyboard() {
        return new AcpiDevice("KBD_", "PNP0303", 0, List.of(new Io(KBD_DATA_PORT, 1), new Io(KBD_DATA_PORT + 4, 1), new IsaIrq(1)));
    }

    /** The CMOS real-time clock at 0x70 with IRQ 8. */
    public static AcpiDevice rtc() {
        return new AcpiDevice("RTC_", "PNP0B00", 0, List.of(new Io(RTC_PORT, 2), new IsaIrq(8)));
    }

    /**
     * The ACPI PM registers (PM1a event and control blocks, where the FADT has them) and the reset
     * register, as motherboard resources (PNP0C02), so the OS leaves the ports alone. That the PM1a
     * control block is there is what gives the DSDT its \_S5 (see {@link Dsdt}).
     */
    public static AcpiDevice powerManagement() {
        return new AcpiDevice("PWRM", "PNP0C02", 0, List.of(new Io(AcpiTables.PM1A_EVT_BLK, 4), new Io(AcpiTables.PM1A_CNT_BLK, 2),
                new Io(RESET_PORT, 1)));
    }

    /** A virtio-mmio transport (what Linux's virtio_mmio driver matches in ACPI, as Firecracker and QEMU describe it). */
    public static AcpiDevice virtioMmio(int index, long base, long length, long gsi) {
        return new AcpiDevice(String.format("V%03X", index), "LNRO0005", index,
                List.of(new Memory32(base, length, true), new Interrupt(gsi, false, false)));
    }

    /**
     * The DSDT entries for the devices on a VM's bus, recognised by the ranges they claim: a UART
     * at a COM port, the HPET's block, the RTC's ports, the ACPI PM1a event block. Devices the DSDT need not name (PIT,
     * PIC, I/O APIC: fixed legacy or described by the MADT) or that it does not know yet give none.
     */
    public static List<AcpiDevice> of(List<List<Claim>> claimsPerDevice) {
        List<AcpiDevice> out = new ArrayList<>();
        for (List<Claim> claims : claimsPerDevice) {
            for (Claim c : claims) {
                AcpiDevice d = null;
                if (c.space() == Space.PIO && (c.base() == COM1_PORT || c.base() == COM2_PORT) && c.length() == 8) {
                    d = serial((int) c.base());
                } else if (c.space() == Space.MMIO && c.base() == HPET_BASE) {
                    d = hpet();
                } else if (c.space() == Space.PIO && c.base() == KBD_DATA_PORT) {
                    d = keyboard();
                } else if (c.space() == Space.PIO && c.base() == RTC_PORT) {
                    d = rtc();
                } else if (c.space() == Space.PIO && c.base() == AcpiTables.PM1A_EVT_BLK) {
                    d = powerManagement();
                }
                AcpiDevice found = d;
                if (found != null && out.stream().noneMatch(o -> o.name().equals(found.name()))) {
                    out.add(found);
                }
            }
        }
        return out;
    }
}
