package io.cloister.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.Space;
import io.cloister.internal.acpi.AcpiTables;

/**
 * The guest learns of its virtio-mmio devices twice, on the kernel command line (Firecracker's
 * way) and in the DSDT (QEMU microvm's way), from the same service properties: both must name the
 * same windows and interrupt lines.
 */
class VirtioAnnouncementTest {
    @TempDir
    Path dir;

    static Platform.Device device(String vm, long base, int irq, int type, boolean root, boolean readOnly) {
        return new Platform.Device("virtio-mmio device " + type, new Platform.Instances() {
            public BusDevice get() {
                throw new AssertionError("not instantiated to be announced");
            }

            public void release(BusDevice instance) {
            }
        }, "io.cloister.virtio 0.1.0", List.of(new Claim(Space.MMIO, base, 0x1000)), vm,
                new Platform.Virtio(base, 0x1000, irq, type, root, readOnly));
    }

    /** Two drives (the second the read-only root) and an entropy device, listed out of order, plus another VM's drive. */
    static final List<Platform.Device> DEVICES = List.of(device("vm", 0xd0007000L, 13, 4, false, false),
            device("vm", 0xd0001000L, 6, 2, true, true), device("other", 0xd0002000L, 7, 2, true, false),
            device("vm", 0xd0000000L, 5, 2, false, false));

    @Test
    void theCommandLineAnnouncesEachDeviceOnceAndTheRootDriveBeforeTheUsersWords() {
        List<Platform.Virtio> v = VirtioAnnouncement.of(DEVICES, "vm");
        assertEquals("virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6 virtio_mmio.device=4K@0xd0007000:13"
                + " root=/dev/vdb ro console=ttyS0", VirtioAnnouncement.cmdline(v, " console=ttyS0 "));
        // The user announced the second device already (another way of writing its base): not twice.
        assertEquals("virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0007000:13 root=/dev/vdb ro"
                + " virtio_mmio.device=4096@0xD0001000:6 quiet", VirtioAnnouncement.cmdline(v,
                        "virtio_mmio.device=4096@0xD0001000:6 quiet"));
        assertEquals("", VirtioAnnouncement.cmdline(VirtioAnnouncement.of(List.of(), "vm"), ""));
        assertEquals(List.of("vda", "vdz", "vdaa", "vdzz", "vdaaa"), List.of(VirtioAnnouncement.diskName(0),
                VirtioAnnouncement.diskName(25), VirtioAnnouncement.diskName(26), VirtioAnnouncement.diskName(701),
                VirtioAnnouncement.diskName(702)));
    }

    @Test
    void theDsdtAndTheCommandLineAgree() throws Exception {
        Path iasl = find("iasl");
        assumeTrue(iasl != null, "iasl is not installed (Debian package acpica-tools; .ci/run installs it)");
        List<Platform.Virtio> v = VirtioAnnouncement.of(DEVICES, "vm");
        List<String> fromCmdline = new ArrayList<>();
        Matcher m = Pattern.compile("virtio_mmio\\.device=4K@0x([0-9a-f]+):(\\d+)").matcher(VirtioAnnouncement.cmdline(v, ""));
        while (m.find()) {
            fromCmdline.add(Long.parseLong(m.group(1), 16) + " 4096 " + m.group(2));
        }
        AcpiTables.Tables t = AcpiTables.build(0xe0000, 1, VirtioAnnouncement.acpi(v));
        String asl = disassemble(iasl, dsdt(t));
        List<String> fromDsdt = new ArrayList<>();
        Matcher d = Pattern.compile("Name \\(_HID, \"LNRO0005\"\\)[^}]*?Memory32Fixed \\(ReadWrite,\\s*0x([0-9A-F]+),[^\\n]*\\n\\s*0x([0-9A-F]+),"
                + "[^}]*?Interrupt \\(ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, \\)\\s*\\{\\s*0x([0-9A-F]+),").matcher(asl);
        while (d.find()) {
            fromDsdt.add(Long.parseLong(d.group(1), 16) + " " + Long.parseLong(d.group(2), 16) + " " + Long.parseLong(d.group(3), 16));
        }
        assertEquals(3, fromCmdline.size(), fromCmdline.toString());
        assertEquals(fromCmdline, fromDsdt, asl);
    }

    /** The DSDT's bytes: the table whose signature is DSDT in the block. */
    static byte[] dsdt(AcpiTables.Tables t) {
        byte[] all = t.bytes();
        for (int i = 0; i + 8 <= all.length; i += 4) {
            if (new String(all, i, 4, StandardCharsets.US_ASCII).equals("DSDT")) {
                int length = (all[i + 4] & 0xff) | (all[i + 5] & 0xff) << 8 | (all[i + 6] & 0xff) << 16 | (all[i + 7] & 0xff) << 24;
                return java.util.Arrays.copyOfRange(all, i, i + length);
            }
        }
        throw new AssertionError("no DSDT in the tables");
    }

    String disassemble(Path iasl, byte[] table) throws Exception {
        Files.write(dir.resolve("dsdt.dat"), table);
        Process p = new ProcessBuilder(iasl.toString(), "-d", "dsdt.dat").directory(dir.toFile()).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0 || !Files.exists(dir.resolve("dsdt.dsl"))) {
            p.destroyForcibly();
            throw new AssertionError("iasl -d failed:\n" + out);
        }
        return Files.readString(dir.resolve("dsdt.dsl"));
    }

    static Path find(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            Path p = Path.of(d.isEmpty() ? "." : d, tool);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }
}
