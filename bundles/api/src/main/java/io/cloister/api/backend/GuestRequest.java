package io.cloister.api.backend;

import org.osgi.annotation.versioning.ProviderType;

/**
 * A guest's request to change the private/shared state of its memory, in the format of the
 * technology that issued it. CPU engines decode these from hypercalls and instructions.
 */
@ProviderType
public sealed interface GuestRequest {
    /** KVM hypercall number of {@link MapGpaRange}. */
    long HC_MAP_GPA_RANGE = 12;

    /** KVM_HC_MAP_GPA_RANGE: rbx = gpa, rcx = 4 KiB pages, rdx = attributes (bit 4: private). */
    record MapGpaRange(long gpa, long pages, long attributes) implements GuestRequest {
        public static final long ATTR_ENCRYPTED = 1L << 4;

        public boolean toPrivate() {
            return (attributes & ATTR_ENCRYPTED) != 0;
        }

        /** The byte length asked for; EINVAL for no pages, an overflowing range or unknown attribute bits. */
        public long length() {
            if (pages <= 0 || pages > (Long.MAX_VALUE >>> 12) || (attributes & ~ATTR_ENCRYPTED) != 0) {
                throw new io.cloister.api.CloisterException(io.cloister.api.Errno.EINVAL, String.format(
                        "MAP_GPA_RANGE gpa 0x%x pages %d attributes 0x%x", gpa, pages, attributes));
            }
            return pages << 12;
        }
    }

    /** TDG.VP.VMCALL&lt;MapGPA&gt;: the shared bit in {@code gpa} asks for shared, its absence for private. */
    record TdxMapGpa(long gpa, long length) implements GuestRequest {
    }

    /** TDG.MEM.PAGE.ACCEPT of one 4 KiB page. */
    record TdxAccept(long gpa) implements GuestRequest {
    }

    /** SNP page-state change through the GHCB. */
    record SnpPageStateChange(long gpa, long pages, boolean toPrivate) implements GuestRequest {
    }

    /** PVALIDATE of one 4 KiB page. */
    record SnpValidate(long gpa, boolean validate) implements GuestRequest {
    }

    /** pKVM MEM_SHARE: give the host access to pages, in place. */
    record PkvmShare(long gpa, long pages) implements GuestRequest {
    }

    /** pKVM MEM_UNSHARE: take the pages back, in place. */
    record PkvmUnshare(long gpa, long pages) implements GuestRequest {
    }
}
