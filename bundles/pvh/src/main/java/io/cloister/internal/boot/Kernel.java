package io.cloister.internal.boot;

import io.cloister.api.memory.GuestMemory;

/**
 * A kernel image a loader has checked and not yet written: where it goes, how it is entered, and
 * the writing itself, deferred so that nothing reaches guest memory before the whole boot (initrd
 * placement included) has been found possible.
 *
 * @param entry the kernel's entry point, in the mode {@code longMode} says
 * @param end the end of the memory the kernel needs (past its bss, or its decompression buffer)
 * @param initrdLimit the highest address an initrd may end at (the kernel's initrd_addr_max + 1)
 * @param maxCmdline the longest command line the kernel takes, NUL not counted
 * @param setupHeader the bzImage's setup header (from offset 0x1f1), copied into boot_params; null for PVH
 */
record Kernel(BootDescription.Protocol protocol, boolean longMode, long entry, long end, long initrdLimit, int maxCmdline,
        byte[] setupHeader, Writer writer) {
    /** Copies the kernel into guest memory. */
    interface Writer {
        void write(GuestMemory memory);
    }
}
