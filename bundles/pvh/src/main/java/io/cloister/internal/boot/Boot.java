package io.cloister.internal.boot;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.List;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.GuestMemory;
import io.cloister.internal.acpi.AcpiDevice;
import io.cloister.internal.acpi.AcpiTables;

/**
 * Boots a guest kernel: recognises its protocol (an ELF with the PVH note, or a Linux bzImage),
 * checks the kernel, the initrd and the command line, and only then writes the kernel, the
 * initrd, the ACPI tables and the boot information into guest memory. Every problem with the
 * files is a CloisterException (EINVAL) in one line naming the file; a refused boot writes nothing.
 */
public final class Boot {
    /** Copies of mapped files go in pieces of this size, each unloaded after, so their pages do not pile up. */
    static final long COPY_CHUNK = 16 << 20;

    /**
     * What the VM adds to the kernel image.
     *
     * @param initrd the initrd's contents (a mapped file), or null
     * @param devices the devices the DSDT describes
     */
    public record Setup(String cmdline, String initrdName, MemorySegment initrd, int vcpus, List<AcpiDevice> devices) {
        public Setup {
            devices = List.copyOf(devices);
        }

        /** A VM with one vCPU, no initrd and no devices in its DSDT. */
        public static Setup of(String cmdline) {
            return new Setup(cmdline, null, null, 1, List.of());
        }
    }

    /**
     * A booted image: its description, and how an engine starts vCPU 0 ({@code entry} in 32-bit
     * protected mode with %ebx = {@code startInfo}; for a bzImage that is the trampoline).
     */
    public record Booted(BootDescription description, long entry, long startInfo) {
        /** The end of the memory the kernel uses. */
        public long end() {
            return description.kernelEnd();
        }
    }

    private Boot() {
    }

    /** The protocol of an image, from its first bytes; a one-line refusal naming what was expected. */
    public static BootDescription.Protocol detect(String name, MemorySegment image) {
        long n = image.byteSize();
        if (n >= 4 && image.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0) == 0x464c457f) {
            return BootDescription.Protocol.PVH;
        }
        if (n >= BzImageLoader.HDRS + 4 && image.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED.withOrder(
                ByteOrder.LITTLE_ENDIAN), BzImageLoader.HDRS) == BzImageLoader.HDRS_MAGIC) {
            return BootDescription.Protocol.BZIMAGE;
        }
        throw bad(name, "neither an ELF kernel with a PVH entry note nor a Linux bzImage (no \"HdrS\" at offset 0x202)");
    }

    /**
     * Whether an image is a Linux kernel: a bzImage (the Linux boot protocol is Linux's own), or a
     * PVH ELF whose Xen GUEST_OS note says "linux", as Linux's vmlinux carries. Only a recognition:
     * a malformed image is not Linux here, and {@link #load} refuses it with the reason.
     */
    public static boolean isLinux(MemorySegment image) {
        try {
            return switch (detect("", image)) {
                case BZIMAGE -> true;
                case PVH -> PvhLoader.guestOsIsLinux(image);
            };
        } catch (CloisterException notAnImage) {
            return false;
        }
    }

    /** Boots {@code image} into {@code memory} (RAM from 0 to {@code ramSize}). */
    public static Booted load(String name, MemorySegment image, GuestMemory memory, long ramSize, Setup setup) {
        if (image.byteSize() > Integer.MAX_VALUE) {
            throw bad(name, image.byteSize() + " bytes: images of 2 GiB and more are not supported");
        }
        checkRam(name, ramSize);
        Kernel kernel = switch (detect(name, image)) {
            case PVH -> PvhLoader.check(name, image, ramSize);
            case BZIMAGE -> BzImageLoader.check(name, image, ramSize);
        };
        return boot(name, kernel, memory, ramSize, setup);
    }

    static void checkRam(String name, long ramSize) {
        if (ramSize < BootLayout.BOOT_AREA_END) {
            throw bad(name, String.format("guest memory of 0x%x bytes cannot hold the boot area [0x%x, 0x%x)", ramSize,
                    BootLayout.BOOT_AREA_START, BootLayout.BOOT_AREA_END));
        }
    }

    /** Boots a checked kernel: checks what the VM adds, then writes it all. */
    static Booted boot(String name, Kernel kernel, GuestMemory memory, long ramSize, Setup setup) {
        int maxCmdline = Math.min(kernel.maxCmdline(), BootLayout.MAX_CMDLINE);
        if (setup.cmdline().length() > maxCmdline) {
            throw bad(name, "command line of " + setup.cmdline().length() + " bytes is longer than the " + maxCmdline
                    + " the kernel takes");
        }
        if (!setup.cmdline().chars().allMatch(c -> c >= 1 && c <= 0x7f)) {
            throw bad(name, "the command line must be ASCII without NUL characters");
        }
        long initrdAddr = 0;
        long initrdSize = 0;
        if (setup.initrd() != null) {
            initrdSize = setup.initrd().byteSize();
            if (initrdSize == 0) {
                throw badInitrd(setup.initrdName(), "the file is empty");
            }
            initrdAddr = BootLayout.placeInitrd(setup.initrdName(), initrdSize, kernel, ramSize);
        }
        AcpiTables.Tables acpi = BootLayout.hasAcpi(ramSize) ? AcpiTables.build(BootLayout.ACPI_START, setup.vcpus(), setup.devices())
                : null;
        if (acpi != null && acpi.end() > BootLayout.HIGH_RAM) {
            throw bad(name, "the ACPI tables for " + setup.vcpus() + " vCPUs do not fit below 1 MiB");
        }
        BootDescription.EntryState entry = new BootDescription.EntryState(kernel.longMode(), kernel.entry(),
                kernel.protocol() == BootDescription.Protocol.PVH ? BootLayout.START_INFO : BootLayout.BOOT_PARAMS);
        BootDescription d = new BootDescription(kernel.protocol(), entry, BootLayout.memoryMap(ramSize), setup.cmdline(),
                BootLayout.CMDLINE, kernel.end(), initrdAddr, initrdSize, acpi == null ? 0 : acpi.rsdp());
        // Everything is checked: now write.
        kernel.writer().write(memory);
        if (setup.initrd() != null) {
            copy(setup.initrd(), 0, initrdSize, memory, initrdAddr);
        }
        BootLayout.write(memory, d, kernel, acpi);
        return new Booted(d, kernel.longMode() ? BootLayout.TRAMPOLINE : kernel.entry(), entry.pointer());
    }

    /** Copies {@code length} bytes of a (mapped) segment to guest memory in pieces, unloading each. */
    static void copy(MemorySegment from, long offset, long length, GuestMemory memory, long gpa) {
        for (long done = 0; done < length;) {
            MemorySegment piece = from.asSlice(offset + done, Math.min(COPY_CHUNK, length - done));
            memory.write(gpa + done, piece);
            if (piece.isMapped()) {
                piece.unload(); // copied: the file's pages need not stay in this process
            }
            done += piece.byteSize();
        }
    }

    static CloisterException badInitrd(String name, String why) {
        return new CloisterException(Errno.EINVAL, "initrd " + name + ": " + why);
    }

    static CloisterException bad(String name, String why) {
        return new CloisterException(Errno.EINVAL, "guest image " + name + ": " + why);
    }
}
