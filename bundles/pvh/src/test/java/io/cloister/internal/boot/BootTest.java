package io.cloister.internal.boot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.GuestMemory;
import io.cloister.api.memory.SlotSpec;
import io.cloister.internal.acpi.AcpiDevice;
import io.cloister.internal.boot.BootDescription.MemoryRange;
import io.cloister.memory.MemoryManagerImpl;

/** The boot layout both protocols share: start_info and boot_params, memory map, initrd, ACPI, the 64-bit entry. */
class BootTest {
    static final long RAM = 32 << 20;
    final GuestMemory memory = new MemoryManagerImpl().create("vm").memory();
    final byte[] hello;
    final byte[] initrd = new byte[10_000];

    BootTest() throws Exception {
        memory.add(SlotSpec.ram(0, RAM));
        Path p = Path.of("").toAbsolutePath();
        while (!Files.isDirectory(p.resolve("guests/bin"))) {
            p = p.getParent();
        }
        hello = Files.readAllBytes(p.resolve("guests/bin/hello.elf"));
        for (int i = 0; i < initrd.length; i++) {
            initrd[i] = (byte) (i * 31 + 1);
        }
    }

    @AfterEach
    void close() {
        memory.close();
    }

    Boot.Setup setup(String cmdline, byte[] rd) {
        return new Boot.Setup(cmdline, "initrd.img", rd == null ? null : MemorySegment.ofArray(rd), 2,
                List.of(AcpiDevice.serial(0x3f8), AcpiDevice.hpet()));
    }

    MemorySegment read(long gpa, long n) {
        MemorySegment s = Arena.ofAuto().allocate(n);
        memory.read(gpa, s);
        return s;
    }

    byte[] bytes(long gpa, int n) {
        return read(gpa, n).toArray(ValueLayout.JAVA_BYTE);
    }

    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;

    @Test
    void pvhStartInfoHasTheInitrdTheMemoryMapAndTheRsdp() {
        Boot.Booted b = Boot.load("hello.elf", MemorySegment.ofArray(hello), memory, RAM, setup("console=ttyS0", initrd));
        assertEquals(BootDescription.Protocol.PVH, b.description().protocol());
        assertEquals(0x100000, b.entry(), "PVH: the engine enters the kernel itself");
        MemorySegment si = read(b.startInfo(), 56);
        assertEquals(0x336ec578, si.get(INT, 0), "magic");
        assertEquals(1, si.get(INT, 4), "version");
        assertEquals(1, si.get(INT, 12), "nr_modules: the initrd");
        MemorySegment mod = read(si.get(LONG, 16), 32);
        long rdAt = mod.get(LONG, 0);
        assertEquals(initrd.length, mod.get(LONG, 8));
        assertEquals(0, rdAt & 0xfff, "page-aligned");
        assertTrue(rdAt + initrd.length <= RAM && rdAt >= RAM - 0x4000, "at the top of RAM: 0x" + Long.toHexString(rdAt));
        assertArrayEquals(initrd, bytes(rdAt, initrd.length));
        assertEquals("console=ttyS0", read(si.get(LONG, 24), 64).getString(0));
        long rsdp = si.get(LONG, 32);
        assertEquals(0xe0000, rsdp);
        assertEquals("RSD PTR ", new String(bytes(rsdp, 8), java.nio.charset.StandardCharsets.US_ASCII));
        int n = si.get(INT, 48);
        MemorySegment map = read(si.get(LONG, 40), n * 24L);
        List<MemoryRange> ranges = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            ranges.add(new MemoryRange(map.get(LONG, i * 24L), map.get(LONG, i * 24L + 8), map.get(INT, i * 24L + 16)));
        }
        assertEquals(List.of(new MemoryRange(0, 0x1000, 1), new MemoryRange(0x1000, 0x9000, 2), new MemoryRange(0xa000, 0x95c00, 1),
                new MemoryRange(0xe0000, 0x20000, 2), new MemoryRange(0x100000, RAM - 0x100000, 1)), ranges);
        assertEquals(ranges, b.description().memoryMap());
    }

    @Test
    void bzImageBootParamsAndThe64BitEntry() {
        byte[] img = BzImages.image(0x3000);
        Boot.Booted b = Boot.load("bzImage", MemorySegment.ofArray(img), memory, RAM, setup("console=ttyS0 quiet", initrd));
        BootDescription d = b.description();
        assertEquals(BootDescription.Protocol.BZIMAGE, d.protocol());
        assertEquals(new BootDescription.EntryState(true, BzImages.PREF + 0x200, 0x7000), d.entry());
        assertEquals(BzImages.PREF + BzImages.INIT_SIZE, d.kernelEnd());
        assertEquals(BootLayout.TRAMPOLINE, b.entry(), "the engine enters the trampoline in 32-bit mode");
        assertEquals(0x7000, b.startInfo(), "with %ebx = boot_params");
        assertArrayEquals(Arrays.copyOfRange(img, 1024, img.length), bytes(BzImages.PREF, img.length - 1024),
                "the protected-mode kernel at its preferred address");
        MemorySegment bp = read(0x7000, 4096);
        assertEquals(0xff, bp.get(ValueLayout.JAVA_BYTE, 0x210) & 0xff, "type_of_loader");
        assertEquals(BzImageLoader.HDRS_MAGIC, bp.get(INT, 0x202), "the setup header copied");
        assertEquals(0x020f, bp.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0x206));
        assertEquals("console=ttyS0 quiet", read(bp.get(INT, 0x228) & 0xffffffffL, 64).getString(0), "cmd_line_ptr");
        long rd = bp.get(INT, 0x218) & 0xffffffffL | (long) bp.get(INT, 0x0c0) << 32;
        assertEquals(initrd.length, bp.get(INT, 0x21c));
        assertEquals(0, bp.get(INT, 0x0c4));
        assertEquals(d.initrdAddr(), rd);
        assertArrayEquals(initrd, bytes(rd, initrd.length));
        assertEquals(0xe0000, bp.get(LONG, 0x070), "acpi_rsdp_addr");
        assertEquals(5, bp.get(ValueLayout.JAVA_BYTE, 0x1e8), "e820_entries");
        assertEquals(0x100000, bp.get(LONG, 0x2d0 + 4 * 20));
        assertEquals(RAM - 0x100000, bp.get(LONG, 0x2d0 + 4 * 20 + 8));
        assertEquals(1, bp.get(INT, 0x2d0 + 4 * 20 + 16));
        assertEquals(2, bp.get(INT, 0x2d0 + 20 + 16), "the boot area is reserved");
        // Identity page tables and the GDT with the boot protocol's selectors.
        assertEquals(0x2003, read(0x1000, 8).get(LONG, 0));
        assertEquals(0x3003, read(0x2000, 8).get(LONG, 0));
        assertEquals(0x6003, read(0x2018, 8).get(LONG, 0));
        assertEquals(0x83 | (2047L << 21), read(0x3000 + 2047 * 8, 8).get(LONG, 0), "the last 2 MiB page below 4 GiB");
        assertEquals(0x00af9a000000ffffL, read(0x9010, 8).get(LONG, 0), "__BOOT_CS 0x10: 64-bit code");
        assertEquals(0x00cf92000000ffffL, read(0x9018, 8).get(LONG, 0), "__BOOT_DS 0x18: flat data");
    }

    /** The trampoline, as objdump reads it: what the boot protocol's 64-bit entry needs, in order. */
    @Test
    void theTrampolineDisassemblesToTheLongModeEntry(@TempDir Path dir) throws Exception {
        Path objdump = Path.of("/usr/bin/objdump");
        assumeTrue(Files.isExecutable(objdump), "objdump (binutils) is not installed");
        Boot.load("bzImage", MemorySegment.ofArray(BzImages.image(0x3000)), memory, RAM, setup("", null));
        Path bin = dir.resolve("t.bin");
        Files.write(bin, bytes(BootLayout.TRAMPOLINE, 0x60));
        String code32 = objdump(objdump, bin, "i386", 0, 0x3a);
        String code64 = objdump(objdump, bin, "i386:x86-64", 0x3a, 0x5b);
        String all = code32 + code64;
        List<String> expected = List.of("mov    %ebx,%esi", "mov    $0x1000,%eax", "mov    %eax,%cr3", "or     $0x20,%eax",
                "mov    %eax,%cr4", "mov    $0xc0000080,%ecx", "rdmsr", "or     $0x100,%eax", "wrmsr", "or     $0x80000001,%eax",
                "mov    %eax,%cr0", "lgdtl  0x9020", "ljmp   $0x10,$0x907a", "mov    $0x18,%eax", "mov    %eax,%ds", "mov    %eax,%ss",
                "movabs $0x1000200,%rax", "jmp    *%rax");
        int at = 0;
        for (String e : expected) {
            int i = all.indexOf(e, at);
            assertTrue(i >= 0, "'" + e + "' missing or out of order in:\n" + all);
            at = i + e.length();
        }
    }

    static String objdump(Path objdump, Path bin, String arch, int start, int stop) throws Exception {
        Process p = new ProcessBuilder(objdump.toString(), "-D", "-b", "binary", "-m", arch, "--start-address=" + start,
                "--stop-address=" + stop, bin.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, out);
        return out;
    }

    String refused(byte[] image, long ram, Boot.Setup s) {
        CloisterException e = assertThrows(CloisterException.class, () -> Boot.load("k", MemorySegment.ofArray(image), memory, ram, s));
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void badBzImagesAreOneLineErrors() {
        byte[] good = BzImages.image(0x3000);
        byte[] old = good.clone();
        ByteBuffer.wrap(old).order(ByteOrder.LITTLE_ENDIAN).putShort(BzImageLoader.VERSION, (short) 0x020a);
        assertTrue(refused(old, RAM, setup("", null)).contains("boot protocol 2.10 is older than 2.12"), refused(old, RAM, setup("", null)));
        byte[] k32 = good.clone();
        ByteBuffer.wrap(k32).order(ByteOrder.LITTLE_ENDIAN).putShort(BzImageLoader.XLOADFLAGS, (short) 0);
        assertTrue(refused(k32, RAM, setup("", null)).contains("no 64-bit entry point (XLF_KERNEL_64 clear)"));
        byte[] zimage = good.clone();
        zimage[BzImageLoader.LOADFLAGS] = 0;
        assertTrue(refused(zimage, RAM, setup("", null)).contains("a zImage"));
        assertTrue(refused(Arrays.copyOf(good, 0x300), RAM, setup("", null)).contains("truncated: 768 bytes"));
        assertTrue(refused(Arrays.copyOf(good, 0x250), RAM, setup("", null)).contains("truncated: 592 bytes"));
        assertTrue(refused(good, 16 << 20, setup("", null)).contains("the kernel needs 0x200000 bytes of guest memory from 0x1000000"),
                refused(good, 16 << 20, setup("", null)));
        assertTrue(refused(good, RAM, setup("x".repeat(2048), null)).contains("command line of 2048 bytes is longer than the 2047"));
        assertTrue(refused("hello, world".repeat(100).getBytes(), RAM, setup("", null)).contains(
                "neither an ELF kernel with a PVH entry note nor a Linux bzImage"));
        assertEquals(0, read(BzImages.PREF, 1).get(ValueLayout.JAVA_BYTE, 0), "nothing was written");
    }

    @Test
    void anInitrdThatDoesNotFitAboveTheKernelIsRefusedBeforeAnythingIsWritten() {
        byte[] big = new byte[(int) (RAM - BzImages.PREF - BzImages.INIT_SIZE + 0x1000)];
        String m = refused(BzImages.image(0x3000), RAM, setup("", big));
        assertEquals("EINVAL: initrd initrd.img: " + big.length + " bytes does not fit between the kernel's end (0x1200000) and"
                + " 0x2000000: give the guest more memory", m);
        assertEquals(0, read(BzImages.PREF, 1).get(ValueLayout.JAVA_BYTE, 0), "the kernel was not written");
        assertEquals(0, read(0x7000, 4).get(INT, 0), "no boot information was written");
        assertTrue(refused(hello, RAM, setup("", new byte[0])).contains("initrd initrd.img: the file is empty"));
        // A kernel whose initrd_addr_max is low gets its initrd below that.
        byte[] low = BzImages.image(0x3000);
        ByteBuffer lb = ByteBuffer.wrap(low).order(ByteOrder.LITTLE_ENDIAN);
        lb.putShort(BzImageLoader.XLOADFLAGS, (short) BzImageLoader.XLF_KERNEL_64);
        lb.putInt(BzImageLoader.INITRD_ADDR_MAX, 0x17fffff);
        Boot.Booted b = Boot.load("k", MemorySegment.ofArray(low), memory, RAM, setup("", initrd));
        assertEquals((0x1800000 - initrd.length) & ~0xfffL, b.description().initrdAddr());
    }

    @Test
    void pvhSegmentsMayNotOverlapTheBootOrAcpiAreas() {
        byte[] acpi = hello.clone();
        ByteBuffer b = ByteBuffer.wrap(acpi).order(ByteOrder.LITTLE_ENDIAN);
        int ph = PvhLoaderTest.phdr(acpi, 1, 1);
        b.putLong(ph + 24, 0xe8000); // the bss lands in the ACPI tables
        assertTrue(refused(acpi, RAM, setup("", null)).contains("overlaps the boot area [0xe0000, 0x100000)"),
                refused(acpi, RAM, setup("", null)));
        byte[] low = hello.clone();
        ByteBuffer.wrap(low).order(ByteOrder.LITTLE_ENDIAN).putLong(ph + 24, 0x2000);
        assertTrue(refused(low, RAM, setup("", null)).contains("overlaps the boot area [0x1000, 0xa000)"));
    }

    /** Below 1 MiB of RAM there is no room for the ACPI area: no tables, no reserved range for them, RSDP 0. */
    @Test
    void smallGuestsHaveNoAcpiArea() {
        assertEquals(List.of(new MemoryRange(0, 0x1000, 1), new MemoryRange(0x1000, 0x9000, 2), new MemoryRange(0xa000, 0x76000, 1)),
                BootLayout.memoryMap(0x80000));
        assertEquals(List.of(new MemoryRange(0, 0x1000, 1), new MemoryRange(0x1000, 0x9000, 2)), BootLayout.memoryMap(0xa000));
        assertEquals(1, BootLayout.fixedAreas(0x80000).size());
        assertEquals(2, BootLayout.fixedAreas(0x100000).size());
    }
}
