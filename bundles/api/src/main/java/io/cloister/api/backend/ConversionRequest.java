package io.cloister.api.backend;

/**
 * A guest's request to convert {@code pages} 4 KiB pages at {@code gpa}, as carried by the
 * KVM hypercall {@code KVM_HC_MAP_GPA_RANGE} (nr 12): {@code attributes} bit 4 means private.
 */
public record ConversionRequest(long gpa, long pages, long attributes) {
    public static final long HC_MAP_GPA_RANGE = 12;
    public static final long ATTR_ENCRYPTED = 1L << 4;

    public boolean toPrivate() {
        return (attributes & ATTR_ENCRYPTED) != 0;
    }
}
