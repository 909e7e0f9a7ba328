package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the VMM hands a kernel, as the guest reads it: guests/bootinfo, built both as a PVH ELF and
 * as a Linux bzImage (entered at its 64-bit entry through the VMM's trampoline), reports its
 * command line, memory map, initrd and ACPI tables; both protocols must tell it the same.
 */
class BootInfoTest {
    static final Path GUESTS = Path.of("../guests/bin").toAbsolutePath().normalize();

    @TempDir
    Path dir;

    @Test
    void bothProtocolsHandTheGuestTheSameBootInformation() throws Exception {
        byte[] initrd = new byte[5000];
        long sum = 0;
        for (int i = 0; i < initrd.length; i++) {
            initrd[i] = (byte) (i * 37 + 11);
            sum += initrd[i] & 0xff;
        }
        Path rd = Files.write(dir.resolve("initrd.img"), initrd);
        long usable = 0x1000 + (0x9fc00 - 0xa000) + (64 << 20) - 0x100000;
        for (String kernel : List.of("bootinfo.elf", "bootinfo.bzimage")) {
            Dist.Run r = Dist.vmm(null, "run", "--kernel", GUESTS.resolve(kernel).toString(), "--initrd", rd.toString(), "--cmdline",
                    "hello=1 console=ttyS0", "--vcpus", "2", "--memory", "64M", "--timeout", "120");
            assertEquals(0, r.code(), kernel + ":\n" + r.out() + r.err());
            String protocol = kernel.endsWith(".elf") ? "pvh" : "bzimage";
            assertEquals("""
                    bootinfo: protocol %s
                    bootinfo: cmdline 'hello=1 console=ttyS0'
                    bootinfo: e820 entries 5 usable %d
                    bootinfo: initrd size 5000 sum %d
                    bootinfo: rsdp revision 2 ok
                    bootinfo: table FACP ok dsdt ok
                    bootinfo: table APIC ok cpus 2 ioapics 1
                    bootinfo: table HPET ok
                    """.formatted(protocol, usable, sum), r.out(), kernel + ": " + r.err());
            assertTrue(r.err().contains("(" + (protocol.equals("pvh") ? "PVH" : "BZIMAGE") + ")"), "the log names the protocol: " + r.err());
        }
    }

    @Test
    void aMissingInitrdIsRefusedBeforeStart() throws Exception {
        Path missing = dir.resolve("none.img");
        Dist.Run r = Dist.vmm(null, "run", "--initrd", missing.toString());
        assertEquals(2, r.code(), r.err()); // bad input (issue 14)
        assertTrue(r.err().contains("vmm: error: VM demo: initrd " + missing + " cannot be read: no such file"), r.err());
    }
}
