package io.cloister.virtio;

import java.lang.foreign.MemorySegment;
import java.security.SecureRandom;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.device.DmaView;

/**
 * virtio-rng (device ID 4, section 5.4; Firecracker's /entropy): fills each device-writable buffer
 * the driver offers with bytes of the host's SecureRandom. A buffer in memory the device may not
 * reach is returned with nothing written.
 */
final class VirtioRng implements VirtioDevice {
    /** The most one request gets, so one guest cannot make the worker generate without bound. */
    static final int MAX_REQUEST = 64 * 1024;
    private final SecureRandom random = new SecureRandom();

    @Override
    public int deviceId() {
        return 4;
    }

    @Override
    public long features() {
        return 0;
    }

    @Override
    public int queues() {
        return 1;
    }

    @Override
    public long readConfig(int offset, int size) {
        return 0; // no configuration space
    }

    @Override
    public void serve(int index, Virtqueue queue, DmaView dma) throws RingException {
        for (Virtqueue.Chain chain; (chain = queue.next()) != null;) {
            int written = 0;
            for (Virtqueue.Buffer b : chain.buffers()) {
                if (!b.writable() || written >= MAX_REQUEST) {
                    continue;
                }
                int n = (int) Math.min(Integer.toUnsignedLong(b.length()), MAX_REQUEST - written);
                byte[] bytes = new byte[n];
                random.nextBytes(bytes);
                try {
                    dma.write(b.gpa(), MemorySegment.ofArray(bytes));
                } catch (CloisterException e) {
                    if (e.errno() != Errno.EACCES) {
                        throw new RingException("entropy request " + chain.head() + ": " + e.getMessage());
                    }
                    written = 0;
                    break;
                }
                written += n;
            }
            queue.complete(chain, written);
        }
    }
}
