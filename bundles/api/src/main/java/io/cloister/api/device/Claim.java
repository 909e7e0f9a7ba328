package io.cloister.api.device;

/** A range of port or MMIO addresses a device answers. */
public record Claim(Space space, long base, long length) {
    public Claim {
        if (length <= 0 || base < 0 || base + length < base) {
            throw new IllegalArgumentException("bad claim " + space + " [0x" + Long.toHexString(base) + ", +" + length + ")");
        }
    }

    public long end() {
        return base + length;
    }
}
