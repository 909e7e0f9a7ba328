package io.cloister.vmm;

import java.lang.foreign.MemorySegment;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.internal.boot.Boot;

/**
 * Which confidential backends can boot an unmodified Linux kernel through Cloister's boot
 * protocols (PVH, the bzImage's 64-bit entry), decided from what each technology asks of a guest
 * before its first instruction (the backend policies model the memory side of it). Those that
 * cannot refuse the VM before it runs, in one line saying why, instead of letting the kernel
 * fault or spin on memory it cannot read:
 * <ul>
 * <li>plain and pkvm boot it: pKVM keeps a protected VM's pages private with their content, and a
 * guest that never shares a page runs unaware (devices that need its memory shared do not work);
 * <li>sev: the image is encrypted at launch and reached only through page tables with the C-bit,
 * which SEV firmware (OVMF) builds before the kernel runs; the entries here run on tables without
 * it, so the kernel's data accesses would see its own image as ciphertext;
 * <li>snp: as SEV, and every page must be validated (PVALIDATE) and the CPUID and secrets pages
 * come from the firmware; the first touch of an unvalidated page raises #VC;
 * <li>tdx: a TD starts in its firmware (TDVF) and its kernel must be a TDX guest that accepts its
 * memory and takes #VE for CPUID, port I/O and MSRs, which the entries here do not provide.
 * </ul>
 */
final class CocoLinux {
    private CocoLinux() {
    }

    /** Why {@code backend} cannot boot a Linux kernel here, or null if it can. */
    static String refusal(String backend) {
        return backend == null ? null : switch (backend) {
            case "sev" -> "an SEV guest reaches its encrypted image only through page tables with the C-bit, which SEV firmware"
                    + " builds before the kernel; the PVH and bzImage entries run without it";
            case "snp" -> "an SNP guest must validate its memory and take the CPUID and secrets pages from SNP firmware before"
                    + " the kernel; the PVH and bzImage entries provide neither";
            case "tdx" -> "a TD starts in TDX firmware (TDVF) and runs a kernel that accepts its memory and handles #VE;"
                    + " the PVH and bzImage entries provide neither";
            default -> null;
        };
    }

    /** Refuses (EINVAL, one line) a Linux kernel under a backend that cannot boot it. */
    static void check(String backend, String image, MemorySegment kernel) {
        String why = refusal(backend);
        if (why != null && Boot.isLinux(kernel)) {
            throw new CloisterException(Errno.EINVAL, "backend " + backend + " cannot boot the Linux kernel " + image + ": " + why
                    + " (--backend plain or pkvm boots it)");
        }
    }
}
