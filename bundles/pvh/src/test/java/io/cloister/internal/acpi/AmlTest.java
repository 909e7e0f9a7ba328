package io.cloister.internal.acpi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AmlTest {
    static String hex(byte[] b) {
        return HexFormat.ofDelimiter(" ").formatHex(b);
    }

    @Test
    void integersTakeTheShortestEncoding() {
        assertEquals("00", hex(Aml.integer(0)));
        assertEquals("01", hex(Aml.integer(1)));
        assertEquals("0a 04", hex(Aml.integer(4)));
        assertEquals("0b f8 03", hex(Aml.integer(0x3f8)));
        assertEquals("0c 00 00 d0 fe", hex(Aml.integer(0xfed00000L)));
        assertEquals("0e 00 00 00 00 01 00 00 00", hex(Aml.integer(1L << 32)));
    }

    @Test
    void eisaIdsAreCompressed() {
        // The well-known value of PNP0501 (a 16550 UART): 0x0105D041.
        assertEquals("0c 41 d0 05 01", hex(Aml.eisaId("PNP0501")));
        assertThrows(IllegalArgumentException.class, () -> Aml.eisaId("pnp0501"));
    }

    @Test
    void pkgLengthCountsItselfAndGrowsPast63() {
        assertEquals("3f", hex(Aml.pkgLength(62)));
        assertEquals("41 04", hex(Aml.pkgLength(63))); // 65 in all: one more byte, low nibble 1, then 65 >> 4
        assertEquals(2, Aml.pkgLength(0xffd).length);
        assertEquals(3, Aml.pkgLength(0xffe).length);
    }

    @Test
    void namesArePaddedAndPrefixed() {
        assertEquals("5c 5f 53 42 5f", hex(Aml.nameString("\\_SB")));
        assertEquals("2e 5f 53 42 5f 43 4f 4d 31", hex(Aml.nameString("_SB.COM1")));
        assertEquals("2f 03 5f 53 42 5f 50 43 49 30 53 31 5f 5f", hex(Aml.nameString("_SB.PCI0.S1")));
        assertThrows(IllegalArgumentException.class, () -> Aml.nameString("COM12"));
        assertThrows(IllegalArgumentException.class, () -> Aml.nameString("1COM"));
    }

    /** The ACPI PM device's motherboard resources and the \_S5 it brings, against iasl. */
    @Test
    void powerManagementAndS5EncodeAsIaslCompilesThem(@TempDir Path dir) throws Exception {
        assumeTrue(Iasl.find() != null, Iasl.MISSING);
        String asl = """
                DefinitionBlock ("", "DSDT", 2, "CLOIST", "CLOISTER", 1) {
                  Scope (\\_SB) {
                    Device (PWRM) {
                      Name (_HID, EisaId ("PNP0C02"))
                      Name (_UID, 0)
                      Name (_CRS, ResourceTemplate () {
                        IO (Decode16, 0x600, 0x600, 0x01, 0x04)
                        IO (Decode16, 0x604, 0x604, 0x01, 0x02)
                        IO (Decode16, 0xCF9, 0xCF9, 0x01, 0x01)
                      })
                    }
                  }
                  Name (_S5, Package () { 5, 5, 0, 0 })
                }
                """;
        byte[] reference = Iasl.compile(dir, "pm", asl);
        assertEquals(hex(Arrays.copyOfRange(reference, 36, reference.length)), hex(Dsdt.body(List.of(AcpiDevice.powerManagement()))));
        assertEquals(Dsdt.body(List.of()).length, Aml.scope("_SB").length, "no PM1a control block: no \\_S5");
    }

    /** The encoder against the reference: the same devices written in ASL and compiled by iasl give the same bytes. */
    @Test
    void devicesEncodeAsIaslCompilesThem(@TempDir Path dir) throws Exception {
        assumeTrue(Iasl.find() != null, Iasl.MISSING);
        List<AcpiDevice> devices = List.of(AcpiDevice.serial(0x3f8), AcpiDevice.rtc(), AcpiDevice.hpet(),
                AcpiDevice.virtioMmio(0, 0xd0000000L, 0x1000, 5), AcpiDevice.keyboard());
        String asl = """
                DefinitionBlock ("", "DSDT", 2, "CLOIST", "CLOISTER", 1) {
                  Scope (\\_SB) {
                    Device (COM1) {
                      Name (_HID, EisaId ("PNP0501"))
                      Name (_UID, 1)
                      Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 0x01, 0x08) IRQNoFlags () {4} })
                    }
                    Device (RTC) {
                      Name (_HID, EisaId ("PNP0B00"))
                      Name (_UID, 0)
                      Name (_CRS, ResourceTemplate () { IO (Decode16, 0x70, 0x70, 0x01, 0x02) IRQNoFlags () {8} })
                    }
                    Device (HPET) {
                      Name (_HID, EisaId ("PNP0103"))
                      Name (_UID, 0)
                      Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadOnly, 0xFED00000, 0x400) })
                    }
                    Device (V000) {
                      Name (_HID, "LNRO0005")
                      Name (_UID, 0)
                      Name (_CRS, ResourceTemplate () {
                        Memory32Fixed (ReadWrite, 0xD0000000, 0x1000)
                        Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {5}
                      })
                    }
                    Device (KBD) {
                      Name (_HID, EisaId ("PNP0303"))
                      Name (_UID, 0)
                      Name (_CRS, ResourceTemplate () { IO (Decode16, 0x60, 0x60, 0x01, 0x01) IO (Decode16, 0x64, 0x64, 0x01, 0x01) IRQNoFlags () {1} })
                    }
                  }
                }
                """;
        byte[] reference = Iasl.compile(dir, "ref", asl);
        byte[] ours = Dsdt.body(devices);
        assertEquals(hex(Arrays.copyOfRange(reference, 36, reference.length)), hex(ours));
        assertArrayEquals(Arrays.copyOfRange(reference, 36, reference.length), ours);
    }
}
