package io.cloister.cpu.x86;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

import io.cloister.api.memory.GuestView;
import io.cloister.api.memory.MemSlot;

/**
 * What the vCPUs of one VM share about decoded code: one bit per 64 bytes of RAM that some vCPU
 * has decoded, and an epoch counting writes into such bytes. The writer drops its own entries at
 * once; the others drop theirs when they next serialize (CPUID, or the start of a run slice), which
 * is what x86 requires of cross-modifying code (SDM vol. 3, 9.1.3).
 */
final class CodeMap {
    final AtomicLongArray chunks;
    final AtomicLong epoch = new AtomicLong();
    final AtomicInteger vcpus = new AtomicInteger();

    CodeMap(long ramBytes) {
        chunks = new AtomicLongArray((int) ((ramBytes + 4095) >>> 12));
    }

    static CodeMap forView(GuestView view) {
        MemSlot ram = view.table().slotAt(0);
        return new CodeMap(ram == null ? 0 : ram.size());
    }

    /** The bits of the 64-byte chunks that [pa, pa + length) touches; the range lies within one page. */
    static long bits(long pa, long length) {
        int first = (int) ((pa & 0xfff) >>> 6);
        int last = (int) (((pa + length - 1) & 0xfff) >>> 6);
        return (-1L >>> (63 - last)) & (-1L << first);
    }
}
