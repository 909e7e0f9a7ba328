package io.cloister.internal.boot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.cloister.api.memory.GuestMemory;
import io.cloister.api.memory.SlotSpec;
import io.cloister.internal.acpi.AcpiDevice;
import io.cloister.internal.acpi.AcpiTables;
import io.cloister.internal.acpi.AcpiTablesTest;
import io.cloister.internal.acpi.Iasl;
import io.cloister.memory.MemoryManagerImpl;

/**
 * The loaders against a real kernel: Debian's cloud kernel as guests/linux/fetch leaves it
 * (bzImage and its decompressed vmlinux) and the self-test initramfs. The folder is
 * CLOISTER_LINUX_CACHE if set, else guests/linux/cache; without the files the tests skip, saying
 * so. (Booting it end to end needs the engine work of the "Linux boots" issue; this checks what
 * the VMM itself hands the kernel.)
 */
class LinuxImagesTest {
    static final long RAM = 256 << 20;
    static final Path CACHE = cache();
    final GuestMemory memory = new MemoryManagerImpl().create("linux").memory();
    final Arena arena = Arena.ofConfined();

    LinuxImagesTest() {
        memory.add(SlotSpec.ram(0, RAM));
    }

    @AfterEach
    void close() {
        memory.close();
        arena.close();
    }

    static Path cache() {
        String env = System.getenv("CLOISTER_LINUX_CACHE");
        return Path.of(env != null && !env.isEmpty() ? env : System.getProperty("cloister.linux.cache", "../../guests/linux/cache"))
                .toAbsolutePath().normalize();
    }

    static Path need(String file) {
        Path p = CACHE.resolve(file);
        assumeTrue(Files.isRegularFile(p), p + " is missing: run guests/linux/fetch (or set CLOISTER_LINUX_CACHE; .ci/run fetches it)");
        return p;
    }

    MemorySegment map(Path p) throws Exception {
        try (FileChannel c = FileChannel.open(p, StandardOpenOption.READ)) {
            return c.map(FileChannel.MapMode.READ_ONLY, 0, c.size(), arena);
        }
    }

    Boot.Setup setup(Path initrd) throws Exception {
        return new Boot.Setup("console=ttyS0 panic=-1", initrd.toString(), map(initrd), 2, List.of(AcpiDevice.serial(0x3f8),
                AcpiDevice.rtc(), AcpiDevice.hpet()));
    }

    MemorySegment read(long gpa, long n) {
        MemorySegment s = Arena.ofAuto().allocate(n);
        memory.read(gpa, s);
        return s;
    }

    @Test
    void debiansBzImageSpeaksA64BitBootProtocolAndIsLaidOut() throws Exception {
        Path bz = need("bzImage");
        Path initramfs = need("initramfs.gz");
        MemorySegment image = map(bz);
        assertEquals(BootDescription.Protocol.BZIMAGE, Boot.detect(bz.toString(), image));
        BzImageLoader.Header h = BzImageLoader.Header.of(image);
        assertTrue(h.version() >= 0x020c, "protocol 0x" + Integer.toHexString(h.version()));
        assertTrue((h.xloadflags() & BzImageLoader.XLF_KERNEL_64) != 0, "XLF_KERNEL_64");
        assertEquals(0x1000000, h.prefAddress(), "CONFIG_PHYSICAL_START");
        assertEquals(0x200000, h.kernelAlignment(), "CONFIG_PHYSICAL_ALIGN");
        long setup = (h.setupSects() + 1) * 512L;
        assertTrue(h.initSize() > image.byteSize() - setup, "init_size 0x" + Long.toHexString(h.initSize())
                + " covers the decompressed kernel, more than the compressed one");

        Boot.Booted b = Boot.load(bz.toString(), image, memory, RAM, setup(initramfs));
        BootDescription d = b.description();
        assertEquals(new BootDescription.EntryState(true, 0x1000200, BootLayout.BOOT_PARAMS), d.entry());
        assertEquals(0x1000000 + h.initSize(), d.kernelEnd());
        // The protected-mode kernel at 16 MiB: its first and last pages as in the file.
        for (long off : new long[] {0, image.byteSize() - setup - 4096}) {
            assertArrayEquals(image.asSlice(setup + off, 4096).toArray(ValueLayout.JAVA_BYTE),
                    read(0x1000000 + off, 4096).toArray(ValueLayout.JAVA_BYTE), "kernel bytes at +0x" + Long.toHexString(off));
        }
        MemorySegment bp = read(BootLayout.BOOT_PARAMS, 4096);
        assertEquals(h.version(), bp.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0x206) & 0xffff, "the kernel's own header in boot_params");
        assertEquals(0xff, bp.get(ValueLayout.JAVA_BYTE, 0x210) & 0xff, "type_of_loader");
        long initrdSize = Files.size(initramfs);
        assertEquals(initrdSize, bp.get(ValueLayout.JAVA_INT_UNALIGNED, 0x21c));
        long rd = bp.get(ValueLayout.JAVA_INT_UNALIGNED, 0x218) & 0xffffffffL;
        assertTrue(rd >= d.kernelEnd() && rd + initrdSize <= RAM, "initrd at 0x" + Long.toHexString(rd));
        byte[] gz = read(rd, 2).toArray(ValueLayout.JAVA_BYTE);
        assertEquals(0x1f, gz[0]);
        assertEquals((byte) 0x8b, gz[1], "the gzip magic of the initramfs at ramdisk_image");
        checkAcpi(bp.get(ValueLayout.JAVA_LONG_UNALIGNED, 0x070));
    }

    @Test
    void debiansVmlinuxBootsThroughItsPvhNote() throws Exception {
        Path vmlinux = need("vmlinux");
        Path initramfs = need("initramfs.gz");
        MemorySegment image = map(vmlinux);
        assertEquals(BootDescription.Protocol.PVH, Boot.detect(vmlinux.toString(), image));
        assertTrue(Boot.isLinux(image), "Linux by its Xen GUEST_OS note (the CoCo backends refuse it)");
        Boot.Booted b = Boot.load(vmlinux.toString(), image, memory, RAM, setup(initramfs));
        assertEquals(b.entry(), b.description().entry().rip(), "entered directly, in 32-bit mode");
        Long expected = readelfPvhEntry(vmlinux);
        if (expected != null) {
            assertEquals(expected, b.entry(), "the entry readelf -n shows in the Xen note of type 0x12");
        }
        assertTrue(b.entry() >= 0x1000000 && b.entry() < b.end(), "entry 0x" + Long.toHexString(b.entry()));
        MemorySegment si = read(BootLayout.START_INFO, 56);
        assertEquals(BootLayout.HVM_START_MAGIC, si.get(ValueLayout.JAVA_INT, 0));
        assertEquals(1, si.get(ValueLayout.JAVA_INT, 12), "the initramfs as module 0");
        long mod = si.get(ValueLayout.JAVA_LONG, 16);
        long rd = read(mod, 8).get(ValueLayout.JAVA_LONG, 0);
        assertEquals(Files.size(initramfs), read(mod + 8, 8).get(ValueLayout.JAVA_LONG, 0));
        assertTrue(rd >= b.end(), "the initrd above the kernel's bss");
        checkAcpi(si.get(ValueLayout.JAVA_LONG, 32));
    }

    /** The tables as the guest finds them from the RSDP address it is given: valid, and decoded by iasl. */
    void checkAcpi(long rsdp) throws Exception {
        assertEquals(0xe0000, rsdp);
        byte[] area = read(rsdp, 0x20000).toArray(ValueLayout.JAVA_BYTE);
        Map<String, byte[]> tables = AcpiTablesTest.walk(new AcpiTables.Tables(rsdp, area, rsdp));
        assertEquals(List.of("RSDP", "XSDT", "FACP", "APIC", "HPET", "DSDT", "FACS"), List.copyOf(tables.keySet()));
        if (Iasl.find() != null) {
            Path dir = Files.createTempDirectory("acpi");
            try {
                String dsdt = Iasl.disassemble(dir, "dsdt", tables.get("DSDT"));
                assertTrue(dsdt.contains("Device (COM1)") && dsdt.contains("Device (RTC)") && dsdt.contains("Device (HPET)"), dsdt);
                String madt = Iasl.disassemble(dir, "apic", tables.get("APIC"));
                assertTrue(madt.contains("Local Apic ID : 01"), madt);
            } finally {
                try (var files = Files.list(dir)) {
                    for (Path f : files.toList()) {
                        Files.delete(f);
                    }
                }
                Files.delete(dir);
            }
        }
    }

    /** The PVH entry as binutils reads it from the Xen note (type 0x12), or null without readelf. */
    static Long readelfPvhEntry(Path elf) throws Exception {
        Path readelf = Path.of("/usr/bin/readelf");
        if (!Files.isExecutable(readelf)) {
            return null;
        }
        Process p = new ProcessBuilder(readelf.toString(), "-n", elf.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "readelf did not end");
        Matcher m = Pattern.compile("Xen\\s+0x0000000[48]\\s+Unknown note type: \\(0x00000012\\)\\s+description data: ((?:[0-9a-f]{2} ?)+)")
                .matcher(out);
        assertTrue(m.find(), "no Xen note of type 0x12 in readelf -n:\n" + out);
        String[] bytes = m.group(1).trim().split(" ");
        long v = 0;
        for (int i = bytes.length - 1; i >= 0; i--) {
            v = v << 8 | Integer.parseInt(bytes[i], 16);
        }
        return v;
    }
}
