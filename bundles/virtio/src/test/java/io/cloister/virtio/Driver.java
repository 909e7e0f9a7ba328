package io.cloister.virtio;

import static io.cloister.virtio.GuestRam.U16;
import static io.cloister.virtio.GuestRam.U32;
import static io.cloister.virtio.GuestRam.U64;

import io.cloister.api.device.Space;

/**
 * A virtio driver the way Linux's virtio_mmio and virtio_ring drive a device (version 2 transport,
 * split ring), writing the rings straight into the test's guest RAM: what the device sees is what a
 * guest kernel would have written.
 */
final class Driver {
    static final long BASE = 0xd000_0000L;
    final VirtioMmio dev;
    final GuestRam ram;
    final int size;
    final long desc;
    final long avail;
    final long used;
    private int nextDesc;
    private int availIdx;
    private int usedSeen;

    Driver(VirtioMmio dev, GuestRam ram, int size, long rings) {
        this.dev = dev;
        this.ram = ram;
        this.size = size;
        this.desc = rings;
        this.avail = rings + 16L * size;
        this.used = (avail + 6 + 2L * size + 4095) & ~4095L;
    }

    int reg(int offset) {
        return (int) dev.read(Space.MMIO, BASE + offset, 4);
    }

    void reg(int offset, long value) {
        dev.write(Space.MMIO, BASE + offset, 4, value);
    }

    long deviceFeatures() {
        reg(0x014, 0);
        long low = reg(0x010) & 0xffffffffL;
        reg(0x014, 1);
        return low | ((long) reg(0x010) << 32);
    }

    /** Linux's probe and virtio_dev_probe: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queue 0, DRIVER_OK. */
    Driver start(long wanted) {
        reg(0x070, 0);
        reg(0x070, VirtioMmio.STATUS_ACKNOWLEDGE);
        reg(0x070, VirtioMmio.STATUS_ACKNOWLEDGE | VirtioMmio.STATUS_DRIVER);
        long features = deviceFeatures() & wanted;
        reg(0x024, 0);
        reg(0x020, features & 0xffffffffL);
        reg(0x024, 1);
        reg(0x020, features >>> 32);
        reg(0x070, VirtioMmio.STATUS_ACKNOWLEDGE | VirtioMmio.STATUS_DRIVER | VirtioMmio.STATUS_FEATURES_OK);
        if ((reg(0x070) & VirtioMmio.STATUS_FEATURES_OK) == 0) {
            throw new IllegalStateException("device refused features 0x" + Long.toHexString(features));
        }
        queue(0);
        reg(0x070, VirtioMmio.STATUS_ACKNOWLEDGE | VirtioMmio.STATUS_DRIVER | VirtioMmio.STATUS_FEATURES_OK
                | VirtioMmio.STATUS_DRIVER_OK);
        return this;
    }

    void queue(int index) {
        reg(0x030, index);
        reg(0x038, size);
        reg(0x080, desc);
        reg(0x084, desc >>> 32);
        reg(0x090, avail);
        reg(0x094, avail >>> 32);
        reg(0x0a0, used);
        reg(0x0a4, used >>> 32);
        reg(0x044, 1);
    }

    /** Writes descriptor {@code i}. */
    void descriptor(long table, int i, long addr, int len, int flags, int next) {
        long d = table + 16L * i;
        ram.ram.set(U64, d, addr);
        ram.ram.set(U32, d + 8, len);
        ram.ram.set(U16, d + 12, (short) flags);
        ram.ram.set(U16, d + 14, (short) next);
    }

    /** Chains buffers {addr, len, writable?1:0} into free descriptors; returns the head. */
    int chain(long[]... buffers) {
        int head = nextDesc;
        for (int i = 0; i < buffers.length; i++) {
            int index = (nextDesc + i) % size;
            boolean last = i == buffers.length - 1;
            descriptor(desc, index, buffers[i][0], (int) buffers[i][1], (buffers[i][2] != 0 ? Virtqueue.DESC_F_WRITE : 0)
                    | (last ? 0 : Virtqueue.DESC_F_NEXT), (index + 1) % size);
        }
        nextDesc = (nextDesc + buffers.length) % size;
        return head;
    }

    /** Puts {@code head} on the available ring and notifies (unless told not to). */
    void offer(int head, boolean notify) {
        ram.ram.set(U16, avail + 4 + 2L * (availIdx % size), (short) head);
        availIdx = (availIdx + 1) & 0xffff;
        ram.ram.set(U16, avail + 2, (short) availIdx);
        if (notify) {
            reg(0x050, 0);
        }
    }

    /** Submits a chain, waits for the device, and returns the used entry {id, len}. */
    int[] submit(long[]... buffers) throws InterruptedException {
        offer(chain(buffers), true);
        dev.drain();
        return next();
    }

    /** The next used entry, or null. */
    int[] next() {
        int idx = ram.ram.get(U16, used + 2) & 0xffff;
        if (idx == usedSeen) {
            return null;
        }
        long e = used + 4 + 8L * (usedSeen % size);
        usedSeen = (usedSeen + 1) & 0xffff;
        return new int[] {ram.ram.get(U32, e), ram.ram.get(U32, e + 4)};
    }

    /** Acknowledges the interrupt as vm_interrupt does. */
    int acknowledge() {
        int status = reg(0x060);
        reg(0x064, status);
        return status;
    }
}
