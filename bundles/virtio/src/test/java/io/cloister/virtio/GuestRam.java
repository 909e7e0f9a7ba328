package io.cloister.virtio;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.DmaView;
import io.cloister.api.device.InterruptLine;
import io.cloister.api.device.VmClock;

/**
 * A VM as a device sees it, for tests: guest RAM behind a DmaView that refuses private pages
 * (EACCES) and addresses outside RAM (EFAULT), as the VMM's does, and interrupt lines whose levels
 * are recorded.
 */
final class GuestRam implements DeviceContext, DmaView, AutoCloseable {
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final Arena arena = Arena.ofShared();
    final MemorySegment ram;
    final BitSet privatePages = new BitSet();
    final List<String> irqs = new ArrayList<>();
    volatile boolean level;

    GuestRam(long size) {
        ram = arena.allocate(size, 4096);
    }

    private void check(long gpa, long length) {
        if (gpa < 0 || length > ram.byteSize() || gpa > ram.byteSize() - length) {
            throw new CloisterException(Errno.EFAULT, "0x" + Long.toHexString(gpa) + " +" + length + " is outside guest RAM");
        }
        for (long p = gpa >>> 12; p <= (gpa + Math.max(length, 1) - 1) >>> 12; p++) {
            if (privatePages.get((int) p)) {
                throw new CloisterException(Errno.EACCES, "page 0x" + Long.toHexString(p << 12) + " is private");
            }
        }
    }

    @Override
    public synchronized void read(long gpa, MemorySegment dst) {
        check(gpa, dst.byteSize());
        MemorySegment.copy(ram, gpa, dst, 0, dst.byteSize());
    }

    @Override
    public synchronized void write(long gpa, MemorySegment src) {
        check(gpa, src.byteSize());
        MemorySegment.copy(src, 0, ram, gpa, src.byteSize());
    }

    @Override
    public String vmName() {
        return "test";
    }

    @Override
    public DmaView dma() {
        return this;
    }

    @Override
    public void exit(int status) {
    }

    @Override
    public void reset() {
    }

    @Override
    public OutputStream console() {
        return new ByteArrayOutputStream();
    }

    @Override
    public InterruptLine interruptLine(int irq) {
        return asserted -> {
            synchronized (irqs) {
                irqs.add("irq" + irq + (asserted ? "+" : "-"));
                level = asserted;
            }
        };
    }

    @Override
    public VmClock clock() {
        throw new UnsupportedOperationException("virtio devices keep no time");
    }

    @Override
    public void close() {
        arena.close();
    }
}
