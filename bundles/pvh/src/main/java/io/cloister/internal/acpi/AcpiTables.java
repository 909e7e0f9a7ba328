package io.cloister.internal.acpi;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The ACPI tables of one VM, generated from its configuration: RSDP (revision 2), XSDT, FADT,
 * FACS, MADT, DSDT and, when the VM has an HPET, the HPET table. Laid out one after another from
 * a base address (each table 64-byte aligned, which the FACS requires), so the whole set is one
 * block of guest memory; the RSDP is at the base.
 *
 * What Linux 6.1 reads from them (with CONFIG_X86_MPPARSE off, the MADT is the only way it learns
 * of the I/O APIC and of more than one CPU):
 * <ul>
 * <li>MADT: a local APIC per vCPU, the I/O APIC at 0xfec00000 (GSI base 0), the ISA overrides a
 * PC has (IRQ 0 on GSI 2; the SCI, IRQ 9, level and active-high) and LINT1 as NMI, as QEMU does.
 * <li>FADT: not hardware-reduced, because in that mode Linux drops the legacy PIC and skips the
 * PIT's timer set-up (acpi_reduced_hw_init), and this platform has both; no SMI command port
 * (ACPI is always on); the DSDT by its 64-bit pointer; the i8042 present, VGA and MSI absent.
 * The PM1 blocks are at 0x600 and 0x604 and the reset register at 0xcf9, where the ACPI PM device
 * answers (poweroff, reset).
 * <li>DSDT: the devices under \_SB, from {@link AcpiDevice}.
 * </ul>
 */
public final class AcpiTables {
    static final long LAPIC_BASE = 0xfee00000L;
    static final long IOAPIC_BASE = 0xfec00000L;
    static final int SCI_IRQ = 9;
    static final byte[] OEM_ID = "CLOIST".getBytes(StandardCharsets.US_ASCII);
    static final byte[] OEM_TABLE_ID = "CLOISTER".getBytes(StandardCharsets.US_ASCII);
    static final byte[] CREATOR_ID = "CLST".getBytes(StandardCharsets.US_ASCII);
    static final int FADT_LENGTH = 276;
    static final int PM1A_EVT_BLK = 0x600;
    static final int PM1A_CNT_BLK = 0x604;
    /** The reset register (RESET_REG) and the value that resets: QEMU's PC, the PIIX/ICH reset control register. */
    static final int RESET_PORT = 0xcf9;
    static final int RESET_VALUE = 0x06;
    /**
     * The HPET's event timer block id: the low half of its capabilities register (vendor 0x8086,
     * legacy replacement capable, 64-bit counter, three comparators, revision 1), as Cloister's HPET device reports it.
     */
    static final int HPET_BLOCK_ID = 0x8086a201;
    /** The most vCPUs whose MADT entries fit the tables' space (far above the VMM's limit of 64). */
    static final int MAX_VCPUS = 255;

    /** The tables as laid out from {@code base}: {@code bytes} go to guest memory there, the RSDP is at {@code rsdp}. */
    public record Tables(long base, byte[] bytes, long rsdp) {
        public long end() {
            return base + bytes.length;
        }
    }

    private AcpiTables() {
    }

    /** The tables of a VM with {@code vcpus} vCPUs and these devices, laid out from {@code base} (below 4 GiB). */
    public static Tables build(long base, int vcpus, List<AcpiDevice> devices) {
        if (vcpus < 1 || vcpus > MAX_VCPUS) {
            throw new IllegalArgumentException("ACPI tables for " + vcpus + " vCPUs: 1 to " + MAX_VCPUS + " are supported");
        }
        if (base < 0 || (base & 63) != 0 || base > 0xffffffffL) {
            throw new IllegalArgumentException("ACPI tables need a 64-byte aligned base below 4 GiB, not 0x" + Long.toHexString(base));
        }
        boolean hpet = devices.stream().anyMatch(d -> d.hid().equals("PNP0103"));
        // Order: RSDP, XSDT, FADT, FACS, MADT, DSDT, HPET; addresses follow from the sizes.
        byte[] dsdt = table("DSDT", 2, Dsdt.body(devices));
        byte[] madt = madt(vcpus);
        byte[] hpetTable = hpet ? hpet() : null;
        int xsdtEntries = hpet ? 3 : 2;
        long rsdp = base;
        long xsdtAt = align(rsdp + 36);
        long fadtAt = align(xsdtAt + 36 + 8L * xsdtEntries);
        long facsAt = align(fadtAt + FADT_LENGTH);
        long madtAt = align(facsAt + 64);
        long dsdtAt = align(madtAt + madt.length);
        long hpetAt = align(dsdtAt + dsdt.length);
        long end = hpet ? hpetAt + hpetTable.length : dsdtAt + dsdt.length;
        if (end > 0x100000000L) {
            throw new IllegalArgumentException("ACPI tables from 0x" + Long.toHexString(base) + " would end above 4 GiB");
        }
        byte[] out = new byte[(int) (end - base)];
        put(out, rsdp - base, rsdp(xsdtAt));
        long[] entries = hpet ? new long[] {fadtAt, madtAt, hpetAt} : new long[] {fadtAt, madtAt};
        put(out, xsdtAt - base, xsdt(entries));
        put(out, fadtAt - base, fadt(facsAt, dsdtAt));
        put(out, facsAt - base, facs());
        put(out, madtAt - base, madt);
        put(out, dsdtAt - base, dsdt);
        if (hpet) {
            put(out, hpetAt - base, hpetTable);
        }
        return new Tables(base, out, rsdp);
    }

    private static long align(long a) {
        return (a + 63) & ~63L;
    }

    private static void put(byte[] out, long at, byte[] table) {
        System.arraycopy(table, 0, out, (int) at, table.length);
    }

    /** RSDP revision 2: the ACPI 1.0 checksum over the first 20 bytes and the extended one over all 36. */
    static byte[] rsdp(long xsdt) {
        ByteBuffer b = le(36);
        b.put("RSD PTR ".getBytes(StandardCharsets.US_ASCII));
        b.put(8, (byte) 0); // checksum, below
        b.position(9);
        b.put(OEM_ID);
        b.put((byte) 2); // revision: ACPI 2.0+, the XSDT is used
        b.putInt(0); // no RSDT: every table is reached through the XSDT
        b.putInt(36);
        b.putLong(xsdt);
        byte[] out = b.array();
        out[8] = checksum(out, 0, 20);
        out[32] = checksum(out, 0, 36);
        return out;
    }

    static byte[] xsdt(long... tables) {
        ByteBuffer b = le(8 * tables.length);
        for (long t : tables) {
            b.putLong(t);
        }
        return table("XSDT", 1, b.array());
    }

    /** FADT revision 6 (ACPI 6.0, 276 bytes); offsets are those of ACPI 6.5 table 5.9. */
    static byte[] fadt(long facs, long dsdt) {
        ByteBuffer b = le(FADT_LENGTH);
        b.putInt(36, (int) facs); // FIRMWARE_CTRL
        b.putInt(40, (int) dsdt);
        b.put(45, (byte) 0); // preferred PM profile: unspecified
        b.putShort(46, (short) SCI_IRQ);
        b.putInt(48, 0); // SMI_CMD: none, so ACPI is always enabled and no SMI handler is asked
        // PM1a event (4 bytes) and control (2 bytes) blocks, required of a non-reduced FADT, at the
        // ports QEMU's PC has them (PIIX4 PM base 0x600), where the ACPI PM device answers
        // (poweroff: S5 by the DSDT's \_S5). No PM timer (length 0), no GPE block.
        b.putInt(56, PM1A_EVT_BLK);
        b.putInt(64, PM1A_CNT_BLK);
        b.put(88, (byte) 4);
        b.put(89, (byte) 2);
        gas(b, 148, 1, 32, PM1A_EVT_BLK); // X_PM1a_EVT_BLK: the same, as a generic address (system I/O)
        gas(b, 172, 1, 16, PM1A_CNT_BLK); // X_PM1a_CNT_BLK
        b.putShort(96, (short) 0x0fff); // P_LVL2_LAT > 100: no C2
        b.putShort(98, (short) 0x0fff); // P_LVL3_LAT > 1000: no C3
        b.put(108, (byte) 0x32); // CENTURY: the CMOS register holding the century
        // IAPC_BOOT_ARCH: 8042 present (bit 1), VGA not present (bit 2), MSI not supported (bit 3).
        b.putShort(109, (short) (1 << 1 | 1 << 2 | 1 << 3));
        // Flags: WBINVD (0), PROC_C1 (2), PWR_BUTTON (4) and SLP_BUTTON (5): no fixed power or sleep
        // button (both set as Firecracker does); RESET_REG_SUP (10); not HW_REDUCED_ACPI (bit 20),
        // see the class comment.
        b.putInt(112, 1 | 1 << 2 | 1 << 4 | 1 << 5 | 1 << 10);
        // RESET_REG: the byte port 0xcf9 (system I/O, 8 bits, byte access), and the value that
        // resets: what Linux's acpi_reboot writes (its default reboot method with ACPI).
        gas(b, 116, 1, 8, RESET_PORT);
        b.put(116 + 3, (byte) 1);
        b.put(128, (byte) RESET_VALUE);
        b.put(131, (byte) 0); // FADT minor version
        b.putLong(132, facs); // X_FIRMWARE_CTRL
        b.putLong(140, dsdt); // X_DSDT
        b.put(268, "CLOISTER".getBytes(StandardCharsets.US_ASCII)); // hypervisor vendor identity
        byte[] body = new byte[FADT_LENGTH - 36];
        System.arraycopy(b.array(), 36, body, 0, body.length);
        return table("FACP", 6, body);
    }

    /** A generic address structure: address space, register width in bits, offset 0, access size undefined. */
    private static void gas(ByteBuffer b, int at, int space, int bits, long address) {
        b.put(at, (byte) space);
        b.put(at + 1, (byte) bits);
        b.putLong(at + 4, address);
    }

    /** FACS version 2: no checksum, no header; the OS needs it for the global lock and waking vector of a non-reduced FADT. */
    static byte[] facs() {
        ByteBuffer b = le(64);
        b.put("FACS".getBytes(StandardCharsets.US_ASCII));
        b.putInt(4, 64);
        b.put(32, (byte) 2);
        return b.array();
    }

    /** MADT revision 5 with the entries QEMU's PC and microvm machines make. */
    static byte[] madt(int vcpus) {
        ByteBuffer b = le(8 + 8 * vcpus + 12 + 2 * 10 + 6);
        b.putInt((int) LAPIC_BASE);
        b.putInt(1); // PCAT_COMPAT: the dual 8259 is present (Linux masks it when it uses the I/O APIC)
        for (int i = 0; i < vcpus; i++) {
            b.put((byte) 0).put((byte) 8).put((byte) i).put((byte) i).putInt(1); // processor local APIC, enabled
        }
        b.put((byte) 1).put((byte) 12).put((byte) 0).put((byte) 0).putInt((int) IOAPIC_BASE).putInt(0); // I/O APIC 0, GSI base 0
        // Interrupt source overrides: the PIT's IRQ 0 is pin 2 of the I/O APIC (flags 0: conforming);
        // the SCI is level-triggered, active high (flags 0x0d), as ACPI requires of it.
        b.put((byte) 2).put((byte) 10).put((byte) 0).put((byte) 0).putInt(2).putShort((short) 0);
        b.put((byte) 2).put((byte) 10).put((byte) 0).put((byte) SCI_IRQ).putInt(SCI_IRQ).putShort((short) 0x0d);
        b.put((byte) 4).put((byte) 6).put((byte) 0xff).putShort((short) 0).put((byte) 1); // LINT1 of every CPU is NMI
        return table("APIC", 5, b.array());
    }

    /** HPET table revision 1: block 0 at 0xfed00000, minimum tick 128 (QEMU's). */
    static byte[] hpet() {
        ByteBuffer b = le(20);
        b.putInt(HPET_BLOCK_ID);
        b.put((byte) 0).put((byte) 0).put((byte) 0).put((byte) 0).putLong(AcpiDevice.HPET_BASE); // GAS: system memory
        b.put((byte) 0); // HPET number
        b.putShort((short) 128);
        b.put((byte) 0); // no page protection
        return table("HPET", 1, b.array());
    }

    /** A table: the 36-byte system description header, then the body; checksummed. */
    static byte[] table(String signature, int revision, byte[] body) {
        ByteBuffer b = le(36 + body.length);
        b.put(signature.getBytes(StandardCharsets.US_ASCII));
        b.putInt(36 + body.length);
        b.put((byte) revision);
        b.put((byte) 0); // checksum, below
        b.put(OEM_ID);
        b.put(OEM_TABLE_ID);
        b.putInt(1); // OEM revision
        b.put(CREATOR_ID);
        b.putInt(1); // creator revision
        b.put(body);
        byte[] out = b.array();
        out[9] = checksum(out, 0, out.length);
        return out;
    }

    /** The byte that makes {@code length} bytes from {@code from} sum to zero (modulo 256). */
    static byte checksum(byte[] b, int from, int length) {
        int sum = 0;
        for (int i = from; i < from + length; i++) {
            sum += b[i];
        }
        return (byte) -sum;
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }
}
