package io.cloister.virtio;

import io.cloister.api.device.DmaView;

/**
 * A virtio device type behind the MMIO transport ({@link VirtioMmio}): what differs between block,
 * entropy and the others. The transport owns registers, feature negotiation, status, queues and
 * interrupts; the device its configuration space and what a request means.
 */
interface VirtioDevice {
    /** VIRTIO_F_VERSION_1: the modern interface, the only one offered. */
    long F_VERSION_1 = 1L << 32;
    /** VIRTIO_F_ACCESS_PLATFORM: a confidential guest's DMA goes through its bounce buffers (Linux refuses a device without it then). */
    long F_ACCESS_PLATFORM = 1L << 33;
    long F_RING_INDIRECT_DESC = 1L << 28;
    long F_RING_EVENT_IDX = 1L << 29;

    /** The virtio device ID (2 block, 4 entropy). */
    int deviceId();

    /** Device-type feature bits; the transport adds the ring and version bits. */
    long features();

    /** How many virtqueues the device has. */
    int queues();

    /** Reads {@code size} bytes (1, 2, 4) of the configuration space at {@code offset}; 0 past its end. */
    long readConfig(int offset, int size);

    /** Writes the configuration space; ignored where it is read-only. */
    default void writeConfig(int offset, int size, long value) {
    }

    /**
     * Serves the requests available on queue {@code index}: takes each with {@link Virtqueue#next},
     * and returns it with {@link Virtqueue#complete}. A request that only fails (a buffer in private
     * memory, an I/O error) completes with the device type's error status; a RingException puts the
     * device into NEEDS_RESET.
     */
    void serve(int index, Virtqueue queue, DmaView dma) throws RingException;

    /** The driver reset the device (status 0) or the VM ends: drop per-driver state. */
    default void reset() {
    }

    /** The device leaves its VM: release host resources (files). */
    default void close() {
    }
}
