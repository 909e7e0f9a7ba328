package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;

/**
 * The platform's power and reset registers as a guest uses them (guests/reset): the ACPI reset
 * register and the i8042's reset line, with --on-reset exit and restart, and ACPI poweroff (S5).
 */
class PowerAndResetTest {
    static final Path RESET = Path.of("../guests/bin/reset.elf").toAbsolutePath().normalize();

    @Test
    void aResetEndsTheRunWithStatus3ByDefault() throws Exception {
        Dist.Run r = Dist.vmm(null, "run", "--kernel", RESET.toString(), "--timeout", "60");
        assertEquals(3, r.code(), r.out() + r.err());
        assertEquals("reset: boot 1\n", r.out(), r.err());
        assertTrue(r.err().contains("the guest reset the platform"), r.err());
    }

    @Test
    void restartBootsTheGuestAgainUntilItPowersOff() throws Exception {
        Dist.Run r = Dist.vmm(null, "run", "--kernel", RESET.toString(), "--on-reset", "restart", "--timeout", "60");
        assertEquals(0, r.code(), "ACPI S5 after two resets (0xcf9, then the i8042)\n" + r.out() + r.err());
        assertEquals("reset: boot 1\nreset: boot 2\nreset: boot 3\n", r.out(), r.err());
        assertTrue(r.err().contains("the guest powered off (ACPI S5)"), r.err());
    }

    @Test
    void aBadOnResetValueIsRefusedBeforeTheStart() throws Exception {
        CommandLineTest.assertOneLineError(Dist.vmm(null, "run", "--on-reset", "reboot"), "--on-reset must be exit or restart, not 'reboot'");
    }
}
