package io.cloister.internal.acpi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.cloister.api.device.Claim;
import io.cloister.api.device.Space;

public class AcpiTablesTest {
    static final long BASE = 0xe0000;

    /** The platform's devices as they claim the bus: UART, HPET, RTC, PIT (no DSDT entry), the debug exit port and ACPI PM. */
    static final List<List<Claim>> BUS = List.of(List.of(new Claim(Space.PIO, 0x3f8, 8)), List.of(new Claim(Space.MMIO, 0xfed00000L,
            0x400)), List.of(new Claim(Space.PIO, 0x70, 2)), List.of(new Claim(Space.PIO, 0x40, 4)), List.of(new Claim(Space.PIO,
                    0xf4, 1)), List.of(new Claim(Space.PIO, 0x600, 4), new Claim(Space.PIO, 0x604, 2), new Claim(Space.PIO, 0xcf9, 1)),
            List.of(new Claim(Space.PIO, 0x60, 1), new Claim(Space.PIO, 0x64, 1)));

    static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    static int sum(byte[] b, int from, int length) {
        int s = 0;
        for (int i = from; i < from + length; i++) {
            s += b[i];
        }
        return s & 0xff;
    }

    /** Follows RSDP -> XSDT -> tables, checking each checksum; the tables by signature. */
    public static Map<String, byte[]> walk(AcpiTables.Tables t) {
        byte[] all = t.bytes();
        int rsdp = (int) (t.rsdp() - t.base());
        assertEquals("RSD PTR ", new String(all, rsdp, 8, StandardCharsets.US_ASCII));
        assertEquals(0, sum(all, rsdp, 20), "RSDP checksum");
        assertEquals(0, sum(all, rsdp, 36), "RSDP extended checksum");
        assertEquals(2, all[rsdp + 15], "RSDP revision");
        Map<String, byte[]> tables = new LinkedHashMap<>();
        tables.put("RSDP", Arrays.copyOfRange(all, rsdp, rsdp + 36));
        byte[] xsdt = table(t, le(all).getLong(rsdp + 24));
        tables.put("XSDT", xsdt);
        for (int i = 36; i < xsdt.length; i += 8) {
            byte[] tab = table(t, le(xsdt).getLong(i));
            tables.put(new String(tab, 0, 4, StandardCharsets.US_ASCII), tab);
        }
        byte[] fadt = tables.get("FACP");
        tables.put("DSDT", table(t, le(fadt).getLong(140)));
        assertEquals(le(fadt).getInt(40), le(fadt).getLong(140), "DSDT and X_DSDT agree");
        int facs = (int) (le(fadt).getLong(132) - t.base());
        assertEquals("FACS", new String(all, facs, 4, StandardCharsets.US_ASCII));
        assertEquals(0, facs % 64, "the FACS is 64-byte aligned");
        tables.put("FACS", Arrays.copyOfRange(all, facs, facs + 64));
        return tables;
    }

    static byte[] table(AcpiTables.Tables t, long address) {
        assertTrue(address >= t.base() && address < t.end(), "table at 0x" + Long.toHexString(address) + " lies in the block");
        int at = (int) (address - t.base());
        int length = le(t.bytes()).getInt(at + 4);
        byte[] tab = Arrays.copyOfRange(t.bytes(), at, at + length);
        assertEquals(0, sum(tab, 0, tab.length), new String(tab, 0, 4, StandardCharsets.US_ASCII) + " checksum");
        return tab;
    }

    @Test
    void tablesChainFromTheRsdpWithValidChecksums() {
        AcpiTables.Tables t = AcpiTables.build(BASE, 4, AcpiDevice.of(BUS));
        Map<String, byte[]> tables = walk(t);
        assertEquals(List.of("RSDP", "XSDT", "FACP", "APIC", "HPET", "DSDT", "FACS"), List.copyOf(tables.keySet()));
        byte[] madt = tables.get("APIC");
        ByteBuffer m = le(madt);
        assertEquals(0xfee00000L, m.getInt(36) & 0xffffffffL, "local APIC address");
        List<Integer> apicIds = new java.util.ArrayList<>();
        int ioapics = 0;
        int overrides = 0;
        for (int i = 44; i < madt.length; i += madt[i + 1]) {
            switch (madt[i]) {
                case 0 -> {
                    apicIds.add((int) madt[i + 3]);
                    assertEquals(1, m.getInt(i + 4), "enabled");
                }
                case 1 -> {
                    ioapics++;
                    assertEquals(0xfec00000L, m.getInt(i + 4) & 0xffffffffL);
                    assertEquals(0, m.getInt(i + 8), "GSI base");
                }
                case 2 -> overrides++;
                default -> {
                }
            }
        }
        assertEquals(List.of(0, 1, 2, 3), apicIds);
        assertEquals(1, ioapics);
        assertEquals(2, overrides);
        byte[] fadt = tables.get("FACP");
        assertEquals(276, fadt.length);
        assertEquals(0, le(fadt).getInt(112) & (1 << 20), "not hardware-reduced");
        assertEquals(9, le(fadt).getShort(46), "SCI on IRQ 9");
        assertEquals(0, le(fadt).getInt(48), "no SMI command port");
    }

    @Test
    void withoutAnHpetThereIsNoHpetTable() {
        AcpiTables.Tables t = AcpiTables.build(BASE, 1, List.of(AcpiDevice.serial(0x3f8)));
        assertFalse(walk(t).containsKey("HPET"));
        assertThrows(IllegalArgumentException.class, () -> AcpiTables.build(BASE, 0, List.of()));
        assertThrows(IllegalArgumentException.class, () -> AcpiTables.build(BASE + 8, 1, List.of()));
    }

    /** ACPICA, the interpreter Linux itself uses, decodes every table without an error and finds what we put there. */
    @Test
    void iaslDecodesEveryTable(@TempDir Path dir) throws Exception {
        assumeTrue(Iasl.find() != null, Iasl.MISSING);
        Map<String, byte[]> tables = walk(AcpiTables.build(BASE, 2, AcpiDevice.of(BUS)));
        String dsdt = Iasl.disassemble(dir, "dsdt", tables.get("DSDT"));
        for (String expected : List.of("Device (COM1)", "EisaId (\"PNP0501\")", "IO (Decode16,\n                    0x03F8,",
                "IRQNoFlags ()\n                    {4}", "Device (HPET)", "EisaId (\"PNP0103\")", "Memory32Fixed (ReadOnly,\n"
                        + "                    0xFED00000,", "Device (RTC)", "EisaId (\"PNP0B00\")", "Device (PWRM)",
                "EisaId (\"PNP0C02\")", "Name (_S5, Package (0x04)", "Device (KBD)", "EisaId (\"PNP0303\")",
                "IO (Decode16,\n                    0x0064,", "IRQNoFlags ()\n                    {1}")) {
            assertTrue(dsdt.contains(expected), "DSDT lacks '" + expected + "':\n" + dsdt);
        }
        String madt = Iasl.disassemble(dir, "apic", tables.get("APIC"));
        assertTrue(madt.contains("Signature : \"APIC\"") && madt.contains("Local Apic Address : FEE00000"), madt);
        assertEquals(2, count(madt, "Subtable Type : 00 [Processor Local APIC]"), madt);
        assertTrue(madt.contains("Address : FEC00000"), madt);
        assertTrue(madt.contains("Source : 09") && madt.contains("Trigger Mode : 3"), madt);
        assertTrue(madt.contains("Source : 00") && madt.contains("Interrupt : 00000002"), madt);
        String fadt = Iasl.disassemble(dir, "facp", tables.get("FACP"));
        assertTrue(fadt.contains("Revision : 06") && fadt.contains("SCI Interrupt : 0009"), fadt);
        assertTrue(fadt.contains("Hardware Reduced (V5) : 0"), fadt);
        assertTrue(fadt.contains("Reset Register Supported (V2) : 1") && fadt.contains("Address : 0000000000000CF9")
                && fadt.contains("Value to cause reset : 06"), "reset register 0xcf9, value 6:\n" + fadt);
        String hpet = Iasl.disassemble(dir, "hpet", tables.get("HPET"));
        assertTrue(hpet.contains("Address : 00000000FED00000"), hpet);
        String xsdt = Iasl.disassemble(dir, "xsdt", tables.get("XSDT"));
        assertTrue(xsdt.contains("ACPI Table Address   0"), xsdt);
        // iasl -d takes no bare RSDP (it has no table header); its checksums are checked above in Java.
        String facs = Iasl.disassemble(dir, "facs", tables.get("FACS"));
        assertTrue(facs.contains("Signature : \"FACS\""), facs);
    }

    static int count(String text, String what) {
        return text.split(java.util.regex.Pattern.quote(what), -1).length - 1;
    }
}
