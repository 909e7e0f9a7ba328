package io.cloister.internal.vmconfig;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * The guest image file, before any loader sees it. A guest image is a regular file no larger than
 * the guest's RAM: a loader copies at most RAM's worth out of it, so a larger file cannot be a
 * bootable image, and reading one (a sparse file of gigabytes, /dev/zero) would only exhaust the
 * VMM's heap. Character devices and FIFOs are refused before they are opened (opening a FIFO
 * blocks until a writer comes; reading /dev/zero never ends). Every refusal is one line
 * ({@link IllegalArgumentException}) naming the file.
 */
public final class GuestImage {
    /** The loader reads an image through int offsets: a few bytes short of 2 GiB at most. */
    static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    private GuestImage() {
    }

    /** A configured kernel path: absolute, else relative to the working directory if it is there, else to {@code home}. */
    public static Path resolve(String kernel, String home) {
        Path p = Path.of(kernel);
        return p.isAbsolute() || home == null || Files.exists(p) ? p : Path.of(home).resolve(p);
    }

    /** Checks the file without opening it; returns its size. */
    public static long check(Path image, long ramSize) {
        return check(image, ramSize, "guest image");
    }

    /**
     * Checks a file the VMM loads into guest memory ({@code what}: "guest image", "initrd")
     * without opening it; returns its size.
     */
    public static long check(Path image, long ramSize, String what) {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(image, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(what + " " + image + " cannot be read: no such file");
        } catch (IOException e) {
            throw new IllegalArgumentException(what + " " + image + " cannot be read: " + e.getMessage());
        }
        if (!attrs.isRegularFile()) {
            throw new IllegalArgumentException(what + " " + image + " is not a regular file (" + kind(image, attrs) + ")");
        }
        long size = attrs.size();
        if (size > ramSize) {
            throw new IllegalArgumentException(what + " " + image + " is " + size + " bytes, more than the guest's RAM ("
                    + ramSize + " bytes): it cannot be loaded");
        }
        if (size > MAX_ARRAY) {
            throw new IllegalArgumentException(what + " " + image + " is " + size + " bytes; images of 2 GiB and more are not "
                    + "supported");
        }
        return size;
    }

    /**
     * Checks the file, then maps it read-only into {@code arena} (unmapped when the arena closes): the
     * image is never copied onto the heap. At most {@code ramSize} bytes even if it grew meanwhile;
     * the size is checked again on the open file, which cannot be swapped under it.
     */
    public static MemorySegment map(Path image, long ramSize, Arena arena) {
        return map(image, ramSize, arena, "guest image");
    }

    /** As {@link #map(Path, long, Arena)}, for a file named {@code what} in messages. */
    public static MemorySegment map(Path image, long ramSize, Arena arena, String what) {
        check(image, ramSize, what);
        try (FileChannel channel = FileChannel.open(image, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size > ramSize || size > MAX_ARRAY) {
                throw new IllegalArgumentException(what + " " + image + " grew to " + size + " bytes while it was opened");
            }
            return channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (IOException e) {
            throw new IllegalArgumentException(what + " " + image + " cannot be read: " + e.getMessage());
        }
    }

    /**
     * The boot protocol of a kernel file, from its first bytes: "PVH" for an ELF (the loader then
     * looks for its PVH note), "bzImage" for a Linux bzImage ("HdrS" at 0x202); otherwise a
     * one-line refusal saying what was expected. Checked before the VMM starts.
     */
    public static String protocol(Path image) {
        byte[] head = new byte[0x206];
        int n = 0;
        try (var in = Files.newInputStream(image)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            throw new IllegalArgumentException("guest image " + image + " cannot be read: " + e.getMessage());
        }
        if (n >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F') {
            return "PVH";
        }
        if (n >= 0x206 && head[0x202] == 'H' && head[0x203] == 'd' && head[0x204] == 'r' && head[0x205] == 'S') {
            return "bzImage";
        }
        throw new IllegalArgumentException("guest image " + image + " is neither an ELF kernel with a PVH entry note nor a Linux"
                + " bzImage (no ELF magic, no \"HdrS\" at offset 0x202)");
    }

    /** What a non-regular file is, for the message. */
    static String kind(Path image, BasicFileAttributes attrs) {
        if (attrs.isDirectory()) {
            return "a directory";
        }
        try {
            int type = (Integer) Files.getAttribute(image, "unix:mode") & 0170000;
            return switch (type) {
                case 0020000 -> "a character device";
                case 0060000 -> "a block device";
                case 0010000 -> "a FIFO";
                case 0140000 -> "a socket";
                default -> "type " + Integer.toOctalString(type);
            };
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return "a device, FIFO or socket";
        }
    }
}
