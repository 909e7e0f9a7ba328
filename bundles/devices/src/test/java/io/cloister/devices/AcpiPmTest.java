package io.cloister.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.device.Space;

/**
 * The ACPI PM1a registers and the reset control register as ACPICA drives them: Linux's
 * acpi_power_off (acpi_hw_legacy_sleep: clear WAK_STS, write SLP_TYP, then SLP_TYP | SLP_EN) and
 * acpi_reboot (the FADT's RESET_REG, 0xcf9, value 0x06).
 */
class AcpiPmTest {
    final TestContext context = new TestContext();
    final List<String> events = context.events;
    final AcpiPm pm = new AcpiPm();

    AcpiPmTest() {
        pm.attach(context);
    }

    @Test
    void linuxPowersOffThroughS5() {
        assertEquals(0x0001, pm.read(Space.PIO, 0x604, 2), "SCI_EN: ACPI mode, always");
        pm.write(Space.PIO, 0x600, 2, 0x8000); // clear WAK_STS
        int cnt = (int) pm.read(Space.PIO, 0x604, 2) & ~(0x1c00 | 0x2000);
        pm.write(Space.PIO, 0x604, 2, cnt | AcpiPm.SLP_TYP_S5 << 10);
        assertEquals(List.of(), events, "the sleep type alone does nothing");
        assertEquals(0x1401, pm.read(Space.PIO, 0x604, 2), "SLP_TYP reads back, SLP_EN does not");
        pm.write(Space.PIO, 0x604, 2, cnt | AcpiPm.SLP_TYP_S5 << 10 | 0x2000);
        assertEquals(List.of("poweroff"), events);
    }

    @Test
    void otherSleepTypesAreIgnored() {
        pm.write(Space.PIO, 0x604, 2, 1 << 10 | 0x2000); // S1
        pm.write(Space.PIO, 0x605, 1, (AcpiPm.SLP_TYP_S5 << 2) & 0xff); // S5 type, no SLP_EN, by its high byte
        assertEquals(List.of(), events);
        pm.write(Space.PIO, 0x605, 1, (AcpiPm.SLP_TYP_S5 << 2 | 0x20) & 0xff); // SLP_EN by the high byte alone
        assertEquals(List.of("poweroff"), events);
    }

    @Test
    void eventRegistersHoldEnablesAndClearStatusByOnes() {
        pm.write(Space.PIO, 0x602, 2, 0x0120); // PWRBTN_EN, GBL_EN
        assertEquals(0x0120, pm.read(Space.PIO, 0x602, 2));
        assertEquals(0x01200000L, pm.read(Space.PIO, 0x600, 4), "status 0, enable in the high half");
        pm.write(Space.PIO, 0x600, 4, 0xffff_0000L);
        assertEquals(0xffff, pm.read(Space.PIO, 0x602, 2), "a 4-byte write sets the enable half too");
        assertEquals(0, pm.read(Space.PIO, 0x600, 2));
    }

    @Test
    void theResetRegisterResetsWithRstCpu() {
        pm.write(Space.PIO, 0xcf9, 1, 0x02); // SYS_RST alone: only selects the kind of reset
        assertEquals(List.of(), events);
        assertEquals(0x02, pm.read(Space.PIO, 0xcf9, 1));
        pm.write(Space.PIO, 0xcf9, 1, 0x06);
        assertEquals(List.of("reset"), events);
    }
}
