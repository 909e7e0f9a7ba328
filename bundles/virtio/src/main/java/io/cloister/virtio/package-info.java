/**
 * Virtio devices on the MMIO transport: the transport and split virtqueue, block and entropy
 * devices. Private to the bundle: devices reach guest memory only through their VM's DMA view.
 */
package io.cloister.virtio;
