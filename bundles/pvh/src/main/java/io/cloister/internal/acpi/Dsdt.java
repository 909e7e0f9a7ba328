package io.cloister.internal.acpi;

import java.util.ArrayList;
import java.util.List;

/** The DSDT's AML: each device of the VM as a Device under \_SB with _HID, _UID and _CRS. */
final class Dsdt {
    private Dsdt() {
    }

    static byte[] body(List<AcpiDevice> devices) {
        List<byte[]> entries = new ArrayList<>();
        for (AcpiDevice d : devices) {
            entries.add(device(d));
        }
        return Aml.scope("_SB", entries.toArray(byte[][]::new));
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
