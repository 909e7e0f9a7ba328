package io.cloister.internal.vmconfig;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
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
    /** The largest Java array (the JDK refuses a few bytes short of Integer.MAX_VALUE). */
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
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(image, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("guest image " + image + " cannot be read: no such file");
        } catch (IOException e) {
            throw new IllegalArgumentException("guest image " + image + " cannot be read: " + e.getMessage());
        }
        if (!attrs.isRegularFile()) {
            throw new IllegalArgumentException("guest image " + image + " is not a regular file (" + kind(image, attrs) + ")");
        }
        long size = attrs.size();
        if (size > ramSize) {
            throw new IllegalArgumentException("guest image " + image + " is " + size + " bytes, more than the guest's RAM ("
                    + ramSize + " bytes): it cannot be loaded");
        }
        if (size > MAX_ARRAY) {
            throw new IllegalArgumentException("guest image " + image + " is " + size + " bytes; images of 2 GiB and more are not "
                    + "supported");
        }
        return size;
    }

    /** Checks the file, then reads it whole; at most {@code ramSize} bytes even if it grows meanwhile. */
    public static byte[] read(Path image, long ramSize) {
        long size = check(image, ramSize);
        try (InputStream in = Files.newInputStream(image)) {
            byte[] bytes = in.readNBytes((int) size);
            if (bytes.length != size || in.read() != -1) {
                throw new IllegalArgumentException("guest image " + image + " changed while it was read");
            }
            return bytes;
        } catch (IOException e) {
            throw new IllegalArgumentException("guest image " + image + " cannot be read: " + e.getMessage());
        } catch (OutOfMemoryError e) {
            // One large array: the heap is intact once it is refused.
            throw new IllegalArgumentException("guest image " + image + " (" + size + " bytes) does not fit in the VMM's heap");
        }
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
