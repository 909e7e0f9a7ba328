package io.cloister.vmm;

import io.cloister.api.device.ConsoleInput;

/**
 * A VM's console input: bytes from the VMM's stdin waiting for the console device (the UART) to
 * take them. The buffer is bounded and {@link #offer} waits while it is full, so a guest that does
 * not read holds its input back (a pipe feeding the VMM then waits too); nothing is dropped.
 */
final class ConsoleIn implements ConsoleInput {
    static final int CAPACITY = 4096;
    private final byte[] ring = new byte[CAPACITY];
    /** Ring state, guarded by this object's monitor: the oldest byte is at head. */
    private int head;
    private int size;
    private boolean closed;
    private volatile Runnable listener;

    /**
     * Adds {@code len} bytes, waiting for room while the buffer is full; tells the listener after
     * each part. False if the console closed (the VM ended) before all were taken.
     */
    boolean offer(byte[] b, int off, int len) throws InterruptedException {
        while (len > 0) {
            int n;
            synchronized (this) {
                while (size == CAPACITY && !closed) {
                    wait();
                }
                if (closed) {
                    return false;
                }
                n = Math.min(len, CAPACITY - size);
                for (int i = 0; i < n; i++) {
                    ring[(head + size + i) % CAPACITY] = b[off + i];
                }
                size += n;
            }
            off += n;
            len -= n;
            Runnable l = listener; // called with no lock of ours held: the device reads back in
            if (l != null) {
                l.run();
            }
        }
        return true;
    }

    @Override
    public synchronized int read() {
        if (size == 0) {
            return -1;
        }
        int b = ring[head] & 0xff;
        head = (head + 1) % CAPACITY;
        if (size-- == CAPACITY) {
            notifyAll(); // room for a waiting offer
        }
        return b;
    }

    /** Bytes waiting. */
    synchronized int waiting() {
        return size;
    }

    @Override
    public void onAvailable(Runnable l) {
        listener = l;
        boolean any;
        synchronized (this) {
            any = size > 0;
        }
        if (l != null && any) {
            l.run(); // bytes typed before the device came
        }
    }

    /** The VM ended: offers return false from now on. */
    synchronized void close() {
        closed = true;
        notifyAll();
    }

    synchronized boolean isClosed() {
        return closed;
    }
}
