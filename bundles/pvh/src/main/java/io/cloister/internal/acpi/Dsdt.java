package io.cloister.internal.acpi;

import java.util.ArrayList;
import java.util.List;

/**
 * The DSDT's AML: each device of the VM as a Device under \_SB with _HID, _UID and _CRS; and, when
 * the ACPI PM1a control block is on the bus, \_S5: the sleep type that powers off, which Linux
 * needs to offer ACPI poweroff at all (acpi_sleep_state_supported) and writes with SLP_EN.
 */
final class Dsdt {
    /** PM1_CNT's SLP_TYP for S5, as the ACPI PM device (io.cloister.devices.AcpiPm) takes it. */
    static final int SLP_TYP_S5 = 5;

    private Dsdt() {
    }

    static byte[] body(List<AcpiDevice> devices) {
        List<byte[]> entries = new ArrayList<>();
        for (AcpiDevice d : devices) {
            entries.add(device(d));
        }
        byte[] sb = Aml.scope("_SB", entries.toArray(byte[][]::new));
        boolean pm1Control = devices.stream().anyMatch(d -> d.resources().contains(new AcpiDevice.Io(AcpiTables.PM1A_CNT_BLK, 2)));
        return pm1Control ? Aml.concat(sb, s5()) : sb;
    }

    /** Name (\_S5, Package () { SLP_TYPa, SLP_TYPb, 0, 0 }): the PM device's S5 type; there is no PM1b block. */
    static byte[] s5() {
        return Aml.name("_S5", Aml.pkg(Aml.integer(SLP_TYP_S5), Aml.integer(SLP_TYP_S5), Aml.integer(0), Aml.integer(0)));
    }

    static byte[] device(AcpiDevice d) {
        // A compressible id (three letters, four hex digits) is an EISA id, as iasl's EisaId() and
        // firmware write PNP ids; others (LNRO0005, ACPI ids) are strings.
        byte[] hid = d.hid().matches("[A-Z]{3}[0-9A-F]{4}") ? Aml.eisaId(d.hid()) : Aml.string(d.hid());
        List<byte[]> crs = new ArrayList<>();
        for (AcpiDevice.Resource r : d.resources()) {
            crs.add(switch (r) {
                case AcpiDevice.Io io -> Aml.io(io.base(), io.length());
                case AcpiDevice.IsaIrq irq -> Aml.irqNoFlags(irq.irq());
                case AcpiDevice.Memory32 m -> Aml.memory32Fixed(m.writable(), m.base(), m.length());
                case AcpiDevice.Interrupt i -> Aml.interrupt(i.gsi(), i.level(), i.activeLow());
            });
        }
        return Aml.device(d.name(), Aml.name("_HID", hid), Aml.name("_UID", Aml.integer(d.uid())),
                Aml.name("_CRS", Aml.resourceTemplate(crs.toArray(byte[][]::new))));
    }
}
