package io.cloister.virtio;

import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.DmaView;
import io.cloister.api.device.InterruptLine;
import io.cloister.api.device.Space;

/**
 * The virtio-mmio transport, version 2 (virtio 1.x "modern", section 4.2.2): a 4 KiB register
 * window, feature negotiation, device status, split virtqueues and an interrupt line held while
 * InterruptStatus is not zero (the guest acknowledges through InterruptACK).
 *
 * Requests are served on a worker thread of the device, not on the vCPU that wrote QueueNotify:
 * a disk write must not stall the guest's CPU, nor count against the bus's hang watchdog. One
 * lock orders the vCPU's register accesses and the worker; what a broken driver does to its rings
 * ends in NEEDS_RESET with one log line, never in an exception on either thread.
 */
final class VirtioMmio implements BusDevice {
    static final long SIZE = 0x1000;
    static final int MAGIC = 0x74726976; // "virt"
    static final int VENDOR = 0x4c43; // "CL"
    static final int STATUS_ACKNOWLEDGE = 1;
    static final int STATUS_DRIVER = 2;
    static final int STATUS_DRIVER_OK = 4;
    static final int STATUS_FEATURES_OK = 8;
    static final int STATUS_NEEDS_RESET = 0x40;
    static final int STATUS_FAILED = 0x80;
    static final int INT_USED_BUFFER = 1;
    static final int INT_CONFIG_CHANGE = 2;

    private static final Logger LOG = LoggerFactory.getLogger(VirtioMmio.class);

    private final long base;
    private final int irq;
    private final VirtioDevice device;
    private final long offered;
    private DeviceContext vm;
    private DmaView dma;
    private InterruptLine line;
    private ExecutorService worker;
    private Virtqueue[] queues = new Virtqueue[0];

    // Registers, guarded by this.
    private int deviceFeaturesSel;
    private int driverFeaturesSel;
    private long driverFeatures;
    private int queueSel;
    private int status;
    private int interruptStatus;
    private boolean lineUp;

    VirtioMmio(long base, int irq, VirtioDevice device) {
        this.base = base;
        this.irq = irq;
        this.device = device;
        this.offered = device.features() | VirtioDevice.F_VERSION_1 | VirtioDevice.F_ACCESS_PLATFORM
                | VirtioDevice.F_RING_INDIRECT_DESC | VirtioDevice.F_RING_EVENT_IDX;
    }

    @Override
    public String name() {
        return "virtio-mmio device " + device.deviceId() + " at 0x" + Long.toHexString(base) + " irq " + irq;
    }

    @Override
    public List<Claim> claims() {
        return List.of(new Claim(Space.MMIO, base, SIZE));
    }

    @Override
    public synchronized void attach(DeviceContext context) {
        vm = context;
        dma = context.dma();
        line = context.interruptLine(irq);
        queues = new Virtqueue[device.queues()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = new Virtqueue(dma);
        }
        worker = Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon().name("virtio-" + device.deviceId() + "-" + context.vmName())
                .factory());
    }

    @Override
    public void detach() {
        ExecutorService w;
        synchronized (this) {
            w = worker;
            worker = null;
        }
        if (w != null) {
            w.shutdownNow();
            try {
                w.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        synchronized (this) {
            device.close();
        }
    }

    @Override
    public synchronized long read(Space space, long address, int size) {
        int offset = (int) (address - base);
        if (offset >= 0x100) {
            return device.readConfig(offset - 0x100, size);
        }
        if (size != 4 || (offset & 3) != 0) {
            return 0; // 4.2.2.2: the driver uses 32-bit accesses for the registers
        }
        Virtqueue q = selected();
        return 0xffffffffL & switch (offset) {
            case 0x000 -> MAGIC;
            case 0x004 -> 2;
            case 0x008 -> device.deviceId();
            case 0x00c -> VENDOR;
            case 0x010 -> deviceFeaturesSel > 1 ? 0 : (int) (offered >>> (32 * deviceFeaturesSel));
            case 0x034 -> q == null ? 0 : Virtqueue.MAX_SIZE;
            case 0x044 -> q != null && q.ready ? 1 : 0;
            case 0x060 -> interruptStatus;
            case 0x070 -> status;
            case 0x0b0, 0x0b4 -> -1; // SHMLen: no shared memory regions
            case 0x0fc -> 0; // ConfigGeneration: the configuration never changes under the driver
            default -> 0;
        };
    }

    @Override
    public synchronized void write(Space space, long address, int size, long value) {
        int offset = (int) (address - base);
        if (offset >= 0x100) {
            if ((status & STATUS_NEEDS_RESET) == 0) {
                device.writeConfig(offset - 0x100, size, value);
            }
            return;
        }
        if (size != 4 || (offset & 3) != 0) {
            return;
        }
        int v = (int) value;
        Virtqueue q = selected();
        switch (offset) {
            case 0x014 -> deviceFeaturesSel = v;
            case 0x020 -> {
                if (driverFeaturesSel <= 1 && (status & STATUS_FEATURES_OK) == 0) {
                    int shift = 32 * driverFeaturesSel;
                    driverFeatures = (driverFeatures & ~(0xffffffffL << shift)) | ((v & 0xffffffffL) << shift);
                }
            }
            case 0x024 -> driverFeaturesSel = v;
            case 0x030 -> queueSel = v;
            case 0x038 -> {
                if (q != null && !q.ready) {
                    q.size = v;
                }
            }
            case 0x044 -> queueReady(q, v);
            case 0x050 -> notify(v);
            case 0x064 -> {
                interruptStatus &= ~v;
                updateLine();
            }
            case 0x070 -> status(v);
            case 0x080 -> setAddress(q, 0, v, false);
            case 0x084 -> setAddress(q, 0, v, true);
            case 0x090 -> setAddress(q, 1, v, false);
            case 0x094 -> setAddress(q, 1, v, true);
            case 0x0a0 -> setAddress(q, 2, v, false);
            case 0x0a4 -> setAddress(q, 2, v, true);
            default -> {
                // read-only or reserved: ignored
            }
        }
    }

    private Virtqueue selected() {
        return queueSel >= 0 && queueSel < queues.length ? queues[queueSel] : null;
    }

    private static void setAddress(Virtqueue q, int which, int half, boolean high) {
        if (q == null || q.ready) {
            return;
        }
        long v = half & 0xffffffffL;
        switch (which) {
            case 0 -> q.descTable = high ? (q.descTable & 0xffffffffL) | (v << 32) : (q.descTable & ~0xffffffffL) | v;
            case 1 -> q.availRing = high ? (q.availRing & 0xffffffffL) | (v << 32) : (q.availRing & ~0xffffffffL) | v;
            default -> q.usedRing = high ? (q.usedRing & 0xffffffffL) | (v << 32) : (q.usedRing & ~0xffffffffL) | v;
        }
    }

    private void queueReady(Virtqueue q, int v) {
        if (q == null) {
            return;
        }
        if (v == 0) {
            q.ready = false;
            return;
        }
        if (q.ready || (status & STATUS_NEEDS_RESET) != 0) {
            return;
        }
        try {
            q.activate((driverFeatures & VirtioDevice.F_RING_EVENT_IDX) != 0);
        } catch (RingException e) {
            needsReset("queue " + queueSel + ": " + e.getMessage());
        }
    }

    private void status(int v) {
        if (v == 0) {
            reset();
            return;
        }
        int added = v & ~status;
        status = v;
        if ((added & STATUS_FEATURES_OK) != 0) {
            // 3.1.1: the device keeps FEATURES_OK only for a subset of what it offered, and a modern one needs VERSION_1.
            if ((driverFeatures & ~offered) != 0 || (driverFeatures & VirtioDevice.F_VERSION_1) == 0) {
                status &= ~STATUS_FEATURES_OK;
            }
        }
    }

    private void reset() {
        status = 0;
        driverFeatures = 0;
        deviceFeaturesSel = driverFeaturesSel = queueSel = 0;
        for (Virtqueue q : queues) {
            q.reset();
        }
        device.reset();
        interruptStatus = 0;
        updateLine();
    }

    private void notify(int index) {
        if (index < 0 || index >= queues.length || !queues[index].ready || (status & STATUS_DRIVER_OK) == 0
                || (status & STATUS_NEEDS_RESET) != 0 || worker == null) {
            return;
        }
        try {
            worker.execute(() -> serve(index));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // detached under our feet: the VM is going away
        }
    }

    /** On the worker: serves one queue under the lock, then interrupts if the driver asked for it. */
    private synchronized void serve(int index) {
        Virtqueue q = queues[index];
        if (!q.ready || (status & STATUS_NEEDS_RESET) != 0 || (status & STATUS_DRIVER_OK) == 0) {
            return;
        }
        try {
            device.serve(index, q, dma);
            if (q.needsInterrupt()) {
                interruptStatus |= INT_USED_BUFFER;
                updateLine();
            }
        } catch (RingException e) {
            needsReset("queue " + index + ": " + e.getMessage());
        } catch (RuntimeException e) {
            // A device bug must not take the worker (and with it the device) down silently.
            unexpected = e;
            needsReset("queue " + index + ": " + e);
        }
    }

    private void needsReset(String why) {
        status |= STATUS_NEEDS_RESET;
        interruptStatus |= INT_CONFIG_CHANGE;
        updateLine();
        LOG.warn("VM {}: {} needs a reset: {}", vm == null ? "?" : vm.vmName(), name(), why);
    }

    private void updateLine() {
        boolean up = interruptStatus != 0;
        if (up != lineUp && line != null) {
            lineUp = up;
            line.set(up);
        }
    }

    /**
     * For tests: the last exception other than a broken ring that serving a queue threw (a device
     * bug the catch-all above turned into NEEDS_RESET), or null. The fuzz test counts one as a finding.
     */
    volatile RuntimeException unexpected;

    /** For tests: the status register as the driver sees it. */
    synchronized int status() {
        return status;
    }

    /** Runs {@code r} on the worker after what it has queued: tests wait for requests with it. */
    void drain() throws InterruptedException {
        ExecutorService w;
        synchronized (this) {
            w = worker;
        }
        if (w != null) {
            var done = new java.util.concurrent.CountDownLatch(1);
            w.execute(done::countDown);
            done.await(30, TimeUnit.SECONDS);
        }
    }
}
