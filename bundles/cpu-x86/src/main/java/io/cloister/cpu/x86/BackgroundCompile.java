package io.cloister.cpu.x86;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * A block compiled on the process's one compiler thread while the vCPU runs on, decoded, as it did
 * below the threshold: building the class and defining it took about 0.45 ms of the vCPU per block
 * (3 % of the Linux boot's vCPU time). The vCPU installs the block at a later run of its first
 * instruction, and only if the bytes it was compiled from are still those in RAM ({@link #install}):
 * the block's tail may be bytes no decoded entry had marked as code, whose writes meanwhile dropped
 * nothing.
 */
final class BackgroundCompile implements Runnable {
    /** Requests beyond this many waiting are refused: the entry tries again at its next threshold. */
    private static final int QUEUE = 1024;
    private static final ThreadPoolExecutor THREAD = new ThreadPoolExecutor(1, 1, 10, TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(QUEUE), r -> {
                Thread t = new Thread(r, "x86-block-compiler");
                t.setDaemon(true);
                return t;
            });

    static {
        THREAD.allowCoreThreadTimeOut(true); // no thread left behind in a process that stops running guests
    }

    private final MemorySegment ram;
    private final long pa;
    private final boolean code64;
    /** Who may share the compiled block (BlockCache). */
    private final Object domain;
    /** A copy of the code's page: the compiler thread never touches guest RAM, which the VM may unmap at any time. */
    private final byte[] page;
    private Block block; // published by the volatile write of done
    private byte[] source;
    private volatile boolean done;

    private BackgroundCompile(MemorySegment ram, long pa, boolean code64, Object domain) {
        this.ram = ram;
        this.pa = pa;
        this.code64 = code64;
        this.domain = domain;
        this.page = ram.asSlice(pa & ~0xfffL, 4096).toArray(ValueLayout.JAVA_BYTE);
    }

    /**
     * Queues the block at physical {@code pa} (on the vCPU thread: the page is copied here), shared
     * with the guests of {@code domain}; null when the queue is full.
     */
    static BackgroundCompile submit(MemorySegment ram, long pa, boolean code64, Object domain) {
        BackgroundCompile c = new BackgroundCompile(ram, pa, code64, domain);
        try {
            THREAD.execute(c);
        } catch (RejectedExecutionException full) {
            return null;
        }
        return c;
    }

    @Override
    public void run() {
        try {
            // Compiled from the copy, which install compares with RAM: what the block does is what
            // those bytes say, whatever the guest writes meanwhile.
            int off = (int) (pa & 0xfff);
            Block b = BlockCache.compile(page, off, code64, domain);
            if (b != null) {
                source = java.util.Arrays.copyOfRange(page, off, off + b.length());
                block = b;
            }
        } catch (RuntimeException | LinkageError e) {
            // the class could not be defined: no block
        }
        done = true;
    }

    boolean done() {
        return done;
    }

    /**
     * The compiled block if it still matches RAM (call once done, on the vCPU thread, after marking
     * its bytes as code, so that a write from now on drops it); null when there is none or the code
     * changed since it was compiled.
     */
    Block install() {
        Block b = block;
        if (b == null) {
            return null;
        }
        byte[] s = source;
        return MemorySegment.mismatch(ram, pa, pa + s.length, MemorySegment.ofArray(s), 0, s.length) == -1 ? b : null;
    }

    /** The bytes the block covers (from its first instruction), or 0 when there is none. */
    int length() {
        Block b = block;
        return b == null ? 0 : b.length();
    }
}
