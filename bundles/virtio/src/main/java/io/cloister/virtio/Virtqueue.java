package io.cloister.virtio;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import io.cloister.api.CloisterException;
import io.cloister.api.device.DmaView;

/**
 * One split virtqueue (virtio 1.x, 2.7) as the device side sees it, read and written through the
 * VM's DMA view only. The driver owns the descriptor table and the available ring, the device the
 * used ring; everything read from guest memory is checked before use, and anything malformed is a
 * {@link RingException}, after which the transport stops using the queue (NEEDS_RESET).
 *
 * Not thread-safe: the transport calls it under its lock.
 */
final class Virtqueue {
    static final int MAX_SIZE = 256;
    static final int DESC_F_NEXT = 1;
    static final int DESC_F_WRITE = 2;
    static final int DESC_F_INDIRECT = 4;
    static final int AVAIL_F_NO_INTERRUPT = 1;
    /** An indirect table may hold at most this many descriptors (Linux never makes more than the ring size). */
    static final int MAX_INDIRECT = MAX_SIZE * 4;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A guest buffer of a chain: device-readable or device-writable. */
    record Buffer(long gpa, int length, boolean writable) {
    }

    /** A request: the head descriptor's index (what goes back in the used ring) and its buffers in order. */
    record Chain(int head, List<Buffer> buffers) {
        /** The readable buffers come first (2.7.4.2); the bytes they hold together. */
        long readableBytes() {
            return buffers.stream().filter(b -> !b.writable()).mapToLong(Buffer::length).sum();
        }

        long writableBytes() {
            return buffers.stream().filter(Buffer::writable).mapToLong(Buffer::length).sum();
        }
    }

    // Set by the driver through the transport's registers while the queue is not ready.
    int size = MAX_SIZE;
    boolean ready;
    long descTable;
    long availRing;
    long usedRing;

    private final DmaView dma;
    private boolean eventIdx;
    /** The next available-ring entry the device will take (free-running 16 bits, as the ring's idx). */
    private int lastAvail;
    /** The used ring's idx as the device last published it. */
    private int usedIdx;
    /** usedIdx when the driver was last interrupted (for the event-index rule). */
    private int signalledUsed;
    private final MemorySegment scratch = MemorySegment.ofArray(new byte[16]);

    Virtqueue(DmaView dma) {
        this.dma = dma;
    }

    /** Back to the state after reset: not ready, nothing configured. */
    void reset() {
        size = MAX_SIZE;
        ready = false;
        descTable = availRing = usedRing = 0;
        lastAvail = usedIdx = signalledUsed = 0;
    }

    /** Called when the driver sets QueueReady: checks what it configured. */
    void activate(boolean eventIdx) throws RingException {
        if (size < 1 || size > MAX_SIZE || Integer.bitCount(size) != 1) {
            throw new RingException("queue size " + size + " is not a power of two from 1 to " + MAX_SIZE);
        }
        if ((descTable & 15) != 0 || (availRing & 1) != 0 || (usedRing & 3) != 0) {
            throw new RingException("misaligned ring (descriptors 0x" + Long.toHexString(descTable) + ", driver 0x"
                    + Long.toHexString(availRing) + ", device 0x" + Long.toHexString(usedRing) + ")");
        }
        this.eventIdx = eventIdx;
        lastAvail = usedIdx = signalledUsed = 0;
        ready = true;
    }

    /** The next request the driver made available, or null if there is none. */
    Chain next() throws RingException {
        int availIdx = u16(availRing + 2);
        int pending = (availIdx - lastAvail) & 0xffff;
        if (pending == 0) {
            return null;
        }
        if (pending > size) {
            throw new RingException("driver's available index " + availIdx + " is " + pending + " ahead of the device, more than the queue size "
                    + size);
        }
        // The ring entry is read after the index (the driver wrote them in the other order).
        VarHandle.acquireFence();
        int head = u16(availRing + 4 + 2L * (lastAvail % size));
        lastAvail = (lastAvail + 1) & 0xffff;
        if (eventIdx) {
            // avail_event: ask for a notification when the driver makes the next one available.
            u16(usedRing + 4 + 8L * size, lastAvail);
        }
        return new Chain(head, buffers(head));
    }

    private List<Buffer> buffers(int head) throws RingException {
        List<Buffer> out = new ArrayList<>();
        if (head >= size) {
            throw new RingException("head descriptor " + head + " outside the table of " + size);
        }
        int index = head;
        boolean writableSeen = false;
        // A chain visits each descriptor at most once: more steps than descriptors is a loop.
        for (int steps = 0;; steps++) {
            if (steps >= size) {
                throw new RingException("descriptor chain from " + head + " loops or is longer than the queue");
            }
            long d = descTable + 16L * index;
            long addr = u64(d);
            int len = u32(d + 8);
            int flags = u16(d + 12);
            int next = u16(d + 14);
            if ((flags & DESC_F_INDIRECT) != 0) {
                if ((flags & DESC_F_NEXT) != 0 || !out.isEmpty()) {
                    // 2.7.5.3.1: an indirect descriptor is the chain's only one (Linux never mixes them).
                    throw new RingException("indirect descriptor " + index + " chained with others");
                }
                indirect(addr, len, out);
                return out;
            }
            writableSeen = add(out, addr, len, flags, writableSeen, index);
            if ((flags & DESC_F_NEXT) == 0) {
                return out;
            }
            if (next >= size) {
                throw new RingException("descriptor " + index + " chains to " + next + ", outside the table of " + size);
            }
            index = next;
        }
    }

    private void indirect(long table, int len, List<Buffer> out) throws RingException {
        if (len == 0 || len % 16 != 0 || len / 16 > MAX_INDIRECT) {
            throw new RingException("indirect table of " + len + " bytes (not a multiple of 16 from 16 to " + MAX_INDIRECT * 16 + ")");
        }
        int count = len / 16;
        int index = 0;
        boolean writableSeen = false;
        for (int steps = 0;; steps++) {
            if (steps >= count) {
                throw new RingException("indirect descriptor chain loops or is longer than its table");
            }
            long d = table + 16L * index;
            long addr = u64(d);
            int dlen = u32(d + 8);
            int flags = u16(d + 12);
            int next = u16(d + 14);
            if ((flags & DESC_F_INDIRECT) != 0) {
                throw new RingException("indirect descriptor inside an indirect table");
            }
            writableSeen = add(out, addr, dlen, flags, writableSeen, index);
            if ((flags & DESC_F_NEXT) == 0) {
                return;
            }
            if (next >= count) {
                throw new RingException("indirect descriptor " + index + " chains to " + next + ", outside its table of " + count);
            }
            index = next;
        }
    }

    private static boolean add(List<Buffer> out, long addr, int len, int flags, boolean writableSeen, int index) throws RingException {
        boolean writable = (flags & DESC_F_WRITE) != 0;
        if (!writable && writableSeen) {
            throw new RingException("descriptor " + index + " is device-readable after a device-writable one");
        }
        long length = Integer.toUnsignedLong(len);
        if (addr + length < addr) {
            throw new RingException("descriptor " + index + " wraps the address space");
        }
        out.add(new Buffer(addr, len, writable));
        return writable || writableSeen;
    }

    /** Returns a request to the driver with the number of bytes the device wrote into it. */
    void complete(Chain chain, int written) throws RingException {
        long entry = usedRing + 4 + 8L * (usedIdx % size);
        scratch.set(U32, 0, chain.head());
        scratch.set(U32, 4, written);
        write(entry, scratch.asSlice(0, 8));
        // The entry is visible before the index that publishes it.
        VarHandle.releaseFence();
        usedIdx = (usedIdx + 1) & 0xffff;
        u16(usedRing + 2, usedIdx);
    }

    /**
     * Whether the driver wants an interrupt for what was completed since the last one: with the
     * event index, when used_event was passed (2.7.10); without, unless it set NO_INTERRUPT.
     */
    boolean needsInterrupt() throws RingException {
        if (usedIdx == signalledUsed) {
            return false;
        }
        VarHandle.fullFence();
        boolean wanted;
        if (eventIdx) {
            int event = u16(availRing + 4 + 2L * size);
            wanted = ((usedIdx - event - 1) & 0xffff) < ((usedIdx - signalledUsed) & 0xffff);
        } else {
            wanted = (u16(availRing) & AVAIL_F_NO_INTERRUPT) == 0;
        }
        signalledUsed = usedIdx;
        return wanted;
    }

    private int u16(long gpa) throws RingException {
        read(gpa, scratch.asSlice(0, 2));
        return scratch.get(U16, 0) & 0xffff;
    }

    private void u16(long gpa, int value) throws RingException {
        scratch.set(U16, 0, (short) value);
        write(gpa, scratch.asSlice(0, 2));
    }

    private int u32(long gpa) throws RingException {
        read(gpa, scratch.asSlice(0, 4));
        return scratch.get(U32, 0);
    }

    private long u64(long gpa) throws RingException {
        read(gpa, scratch.asSlice(0, 8));
        return scratch.get(U64, 0);
    }

    private void read(long gpa, MemorySegment dst) throws RingException {
        try {
            dma.read(gpa, dst);
        } catch (CloisterException e) {
            // The rings must be in memory the device may reach: private or absent is a broken ring.
            throw new RingException("ring at 0x" + Long.toHexString(gpa) + " cannot be read: " + e.getMessage());
        }
    }

    private void write(long gpa, MemorySegment src) throws RingException {
        try {
            dma.write(gpa, src);
        } catch (CloisterException e) {
            throw new RingException("ring at 0x" + Long.toHexString(gpa) + " cannot be written: " + e.getMessage());
        }
    }
}
