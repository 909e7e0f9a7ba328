package io.cloister.internal.boot;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Checks a Linux bzImage for the x86 boot protocol's 64-bit entry (Linux
 * Documentation/arch/x86/boot.rst; field offsets from arch/x86/include/uapi/asm/bootparam.h): the
 * setup header must say "HdrS", protocol 2.12 or later and XLF_KERNEL_64; the protected-mode
 * kernel (the file past the (setup_sects + 1) sectors of real-mode setup) is loaded at the kernel's
 * preferred address, where a relocatable kernel decompresses itself anyway and a non-relocatable
 * one must run, and entered at its 64-bit entry, 0x200 past the start. The kernel needs init_size
 * bytes from there. Every problem is a one-line CloisterException (EINVAL); BzImageLoaderFuzzTest
 * holds the loader to that for any content.
 */
final class BzImageLoader {
    static final int SETUP_SECTS = 0x1f1;
    static final int BOOT_FLAG = 0x1fe;
    static final int JUMP = 0x200;
    static final int HDRS = 0x202;
    static final int HDRS_MAGIC = 0x53726448; // "HdrS"
    static final int VERSION = 0x206;
    static final int LOADFLAGS = 0x211;
    static final int INITRD_ADDR_MAX = 0x22c;
    static final int KERNEL_ALIGNMENT = 0x230;
    static final int RELOCATABLE = 0x234;
    static final int XLOADFLAGS = 0x236;
    static final int CMDLINE_SIZE = 0x238;
    static final int PREF_ADDRESS = 0x258;
    static final int INIT_SIZE = 0x260;
    /** The header through init_size: what a 2.12 kernel has at least. */
    static final int HEADER_END = 0x264;
    /** sizeof(struct boot_params) up to the end of its setup header in Linux 6.x: what is copied at most. */
    static final int MAX_HEADER_END = 0x290;
    static final int MIN_VERSION = 0x020c;
    static final int LOADED_HIGH = 0x01;
    static final int XLF_KERNEL_64 = 0x01;
    static final int XLF_CAN_BE_LOADED_ABOVE_4G = 0x02;
    static final long DEFAULT_LOAD = 0x100000;
    static final int ENTRY_64 = 0x200;

    private BzImageLoader() {
    }

    static Kernel check(String name, MemorySegment image, long ramSize) {
        long length = image.byteSize();
        if (length > Integer.MAX_VALUE) {
            throw Boot.bad(name, length + " bytes: images of 2 GiB and more are not supported");
        }
        if (length < HEADER_END) {
            throw Boot.bad(name, "truncated: " + length + " bytes, a bzImage's setup header ends at 0x" + Integer.toHexString(HEADER_END));
        }
        ByteBuffer b = image.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        if (b.getInt(HDRS) != HDRS_MAGIC) {
            throw Boot.bad(name, "not a bzImage: no \"HdrS\" at offset 0x202");
        }
        if ((b.getShort(BOOT_FLAG) & 0xffff) != 0xaa55) {
            throw Boot.bad(name, String.format("bad boot_flag 0x%04x at offset 0x1fe (0xaa55 expected)", b.getShort(BOOT_FLAG) & 0xffff));
        }
        int version = b.getShort(VERSION) & 0xffff;
        if (version < MIN_VERSION) {
            throw Boot.bad(name, String.format("boot protocol %d.%02d is older than 2.12, the first with a 64-bit entry", version >> 8,
                    version & 0xff));
        }
        if ((b.get(LOADFLAGS) & LOADED_HIGH) == 0) {
            throw Boot.bad(name, "a zImage (LOADED_HIGH clear): only a bzImage, loaded at 1 MiB, is supported");
        }
        int xloadflags = b.getShort(XLOADFLAGS) & 0xffff;
        if ((xloadflags & XLF_KERNEL_64) == 0) {
            throw Boot.bad(name, "no 64-bit entry point (XLF_KERNEL_64 clear): a 32-bit kernel");
        }
        int sects = b.get(SETUP_SECTS) & 0xff;
        long setupBytes = (sects == 0 ? 4 : sects) * 512L + 512; // the boot sector, then the setup sectors
        if (setupBytes + ENTRY_64 >= length) {
            throw Boot.bad(name, String.format("truncated: %d bytes, but the real-mode setup alone takes %d (setup_sects %d)", length,
                    setupBytes, sects));
        }
        long kernelBytes = length - setupBytes;
        long pref = b.getLong(PREF_ADDRESS);
        long alignment = b.getInt(KERNEL_ALIGNMENT) & 0xffffffffL;
        boolean relocatable = b.get(RELOCATABLE) != 0;
        long initSize = b.getInt(INIT_SIZE) & 0xffffffffL;
        long load = pref == 0 ? DEFAULT_LOAD : pref;
        if (Long.compareUnsigned(load, DEFAULT_LOAD) < 0 || Long.compareUnsigned(load, 1L << 32) >= 0) {
            throw Boot.bad(name, String.format("preferred address 0x%x is outside [1 MiB, 4 GiB)", load));
        }
        if (relocatable && (alignment == 0 || Long.bitCount(alignment) != 1 || load % alignment != 0)) {
            throw Boot.bad(name, String.format("preferred address 0x%x is not a multiple of the kernel alignment 0x%x", load, alignment));
        }
        long needs = Math.max(initSize, kernelBytes);
        if (needs > ramSize || load > ramSize - needs) {
            throw Boot.bad(name, String.format("the kernel needs 0x%x bytes of guest memory from 0x%x (init_size 0x%x), more than the"
                    + " guest's 0x%x: give the guest more memory", needs, load, initSize, ramSize));
        }
        // The setup header as the image has it, up to where its jump says it ends (boot.rst:
        // 0x202 + the byte at 0x201), at most what struct setup_header holds.
        int headerEnd = (int) Math.min(Math.min(JUMP + 2 + (b.get(JUMP + 1) & 0xff), MAX_HEADER_END), length);
        headerEnd = Math.max(headerEnd, HEADER_END);
        byte[] header = new byte[headerEnd - SETUP_SECTS];
        b.get(SETUP_SECTS, header);
        long initrdMax = (xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G) != 0 ? 1L << 32 : (b.getInt(INITRD_ADDR_MAX) & 0xffffffffL) + 1;
        // cmdline_size excludes the NUL; a kernel of protocol 2.06+ states it.
        int maxCmdline = (int) Math.min(b.getInt(CMDLINE_SIZE) & 0xffffffffL, BootLayout.MAX_CMDLINE);
        long loadAt = load;
        return new Kernel(BootDescription.Protocol.BZIMAGE, true, load + ENTRY_64, load + needs, initrdMax, maxCmdline, header,
                memory -> Boot.copy(image, setupBytes, kernelBytes, memory, loadAt));
    }

    /** The header fields a test or a log line wants: protocol version, setup sectors, preferred address, init_size. */
    record Header(int version, int setupSects, long prefAddress, long initSize, int xloadflags, long kernelAlignment) {
        static Header of(MemorySegment image) {
            ByteBuffer b = image.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            return new Header(b.getShort(VERSION) & 0xffff, b.get(SETUP_SECTS) & 0xff, b.getLong(PREF_ADDRESS),
                    b.getInt(INIT_SIZE) & 0xffffffffL, b.getShort(XLOADFLAGS) & 0xffff, b.getInt(KERNEL_ALIGNMENT) & 0xffffffffL);
        }
    }
}
