package io.cloister.vmm;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.internal.vmconfig.VmSettings;

/**
 * A VM's console: the stream its devices write the guest's output to. Writes go into a bounded
 * buffer that a writer thread empties into the target ({@link #target}: stdout, a file, a TCP
 * connection; or what a {@link Platform} gives), so a target that blocks (a listener that never
 * reads, a FIFO nobody opened) never holds a vCPU for long: a write waits at most {@link #STALL_MS} for room (less than the device bus's hang watchdog),
 * then the output is dropped until the writer catches up, with one warning. A target that fails
 * (a closed connection, a full disk) is reported once to {@code onFailure}, which ends the guest
 * with a failure, and everything written afterwards is discarded quietly.
 */
final class Console extends OutputStream {
    private static final Logger LOG = LoggerFactory.getLogger(Console.class);
    static final int CAPACITY = 1 << 20;
    /** How long a write waits for room; the device bus marks a device hung after 250 ms. */
    static final long STALL_MS = 100;
    /** How long a drain waits for the writer to make progress before it gives up. */
    static final long DRAIN_STALL_MS = 1_000;
    static final int CONNECT_TIMEOUT_MS = 5_000;

    private final String spec;
    private final String vm;
    private final Consumer<String> onFailure;
    private final byte[] ring = new byte[CAPACITY];
    /** Ring state, guarded by this object's monitor: the oldest byte is at head. */
    private int head;
    private int size;
    private boolean closed;
    private String failure;
    /** Dropping output until the writer has made room again. */
    private boolean overrun;
    private long dropped;
    private boolean lossReported;
    private long written;
    private final Thread writer;
    /** The target; closed from outside to unblock a writer stuck in it. */
    private final OutputStream out;

    private Console(String spec, String vm, OutputStream target, Consumer<String> onFailure) {
        this.spec = spec;
        this.vm = vm;
        this.onFailure = onFailure;
        this.out = target;
        this.writer = Thread.ofPlatform().daemon().name("console-" + vm).unstarted(this::drainLoop);
    }

    /**
     * The console of VM {@code vm} over {@code target} (named {@code spec} in messages), which it
     * closes with itself. {@code onFailure} hears once that output was lost: the target failed, or
     * it had not taken everything when the guest ended.
     */
    static Console over(String spec, String vm, OutputStream target, Consumer<String> onFailure) {
        Console c = new Console(spec, vm, target, onFailure);
        c.writer.start();
        return c;
    }

    /**
     * Opens what a VM's configuration names: stdout, file:PATH or tcp:[HOST:]PORT. Errors the user
     * can act on (no such directory, connection refused) are thrown at once; a FIFO is opened at the
     * first write, by the writer thread, as that open blocks until a reader comes.
     */
    static OutputStream target(String spec) {
        if (spec == null || spec.isBlank() || spec.equals("stdout")) {
            return new FileOutputStream(FileDescriptor.out) {
                @Override
                public void close() {
                    // the process's stdout stays open for the launcher's own messages
                }
            };
        }
        if (spec.startsWith("file:")) {
            Path path = Path.of(spec.substring(5));
            if (isFifo(path)) {
                return new Fifo(path);
            }
            try {
                return new FileOutputStream(path.toFile());
            } catch (IOException e) {
                throw new CloisterException(Errno.ENOENT, "console " + spec + " cannot be opened: " + e.getMessage());
            }
        }
        if (spec.startsWith("tcp:")) {
            // Like QEMU's -serial tcp:HOST:PORT: connect to a listener (e.g. nc -l PORT).
            Socket socket = new Socket();
            try {
                int port = VmSettings.tcpPort("", spec);
                socket.connect(new InetSocketAddress(VmSettings.tcpHost(spec), port), CONNECT_TIMEOUT_MS);
                return new SocketStream(socket);
            } catch (IOException | IllegalArgumentException e) {
                try {
                    socket.close();
                } catch (IOException ignored) {
                    // nothing was opened
                }
                throw new CloisterException(Errno.ENOENT, "console " + spec + " cannot be reached: " + e.getMessage());
            }
        }
        throw new CloisterException(Errno.EINVAL, "console '" + spec + "' is none of stdout, file:PATH, tcp:HOST:PORT");
    }

    private static boolean isFifo(Path path) {
        try {
            return ((Integer) Files.getAttribute(path, "unix:mode") & 0170000) == 0010000;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return false; // does not exist yet, or no unix view: a plain open
        }
    }

    /** The UART writes a byte at a time: no array for the common case of room in the buffer. */
    @Override
    public synchronized void write(int b) {
        if (size < CAPACITY && failure == null && !closed && !overrun) {
            ring[(head + size) % CAPACITY] = (byte) b;
            if (++size == 1) {
                notifyAll();
            }
            return;
        }
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) {
        long deadline = 0;
        while (len > 0) {
            if (failure != null || closed) {
                return; // the failure was reported once; later output has nowhere to go
            }
            if (overrun) {
                dropped += len;
                return;
            }
            if (size == CAPACITY) {
                long now = System.nanoTime();
                if (deadline == 0) {
                    deadline = now + STALL_MS * 1_000_000;
                }
                if (now - deadline >= 0 || Thread.currentThread().isInterrupted()) {
                    overrun = true;
                    if (dropped == 0) {
                        LOG.warn("VM {}: console {} does not keep up; dropping output until it does", vm, spec);
                    }
                    continue;
                }
                waitQuietly(Math.max(1, (deadline - now) / 1_000_000));
                continue;
            }
            int tail = (head + size) % CAPACITY;
            int n = Math.min(len, Math.min(CAPACITY - size, CAPACITY - tail));
            System.arraycopy(b, off, ring, tail, n);
            size += n;
            off += n;
            len -= n;
            notifyAll();
        }
    }

    /** Does not wait: the writer sends what is buffered as soon as it can. */
    @Override
    public void flush() {
    }

    /**
     * Waits until the writer has sent everything buffered, the target failed, or the writer made no
     * progress for {@link #DRAIN_STALL_MS}. The VM calls it when its guest ends, so the output is out
     * before the run reports.
     */
    void drain() {
        String lost = null;
        synchronized (this) {
            long lastWritten = written;
            long stalledSince = System.nanoTime();
            while (size > 0 && failure == null && writer.isAlive()) {
                if (written != lastWritten) {
                    lastWritten = written;
                    stalledSince = System.nanoTime();
                } else if (System.nanoTime() - stalledSince > DRAIN_STALL_MS * 1_000_000) {
                    break;
                }
                waitQuietly(50);
            }
            // Output the target never took is lost as surely as output it refused: the run says so.
            if (failure == null && !lossReported && (size > 0 || dropped > 0)) {
                lossReported = true;
                lost = "console " + spec + " lost " + (size + dropped) + " bytes of the guest's output (it did not take them)";
            }
        }
        if (lost != null) {
            onFailure.accept(lost);
        }
    }

    /** Why the target failed, or null. */
    synchronized String failure() {
        return failure;
    }

    /** Sends what it can (see drain), then stops the writer and closes the target. */
    @Override
    public void close() {
        drain();
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            notifyAll();
        }
        try {
            writer.join(DRAIN_STALL_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        // A writer still blocked in the target (a peer that does not read) is released by closing it.
        closeTarget();
    }

    private void closeTarget() {
        try {
            out.close();
        } catch (IOException e) {
            LOG.debug("console {} close: {}", spec, e.toString());
        }
    }

    /** The writer thread: sends the buffer's content to the target in the order written. */
    private void drainLoop() {
        try {
            while (true) {
                int from;
                int n;
                synchronized (this) {
                    while (size == 0 && !closed) {
                        waitQuietly(0);
                    }
                    if (size == 0) {
                        break;
                    }
                    from = head;
                    n = Math.min(size, CAPACITY - head);
                }
                // Outside the lock: the guest goes on writing while the target takes its time.
                out.write(ring, from, n);
                out.flush();
                synchronized (this) {
                    head = (head + n) % CAPACITY;
                    size -= n;
                    written += n;
                    if (overrun && size <= CAPACITY / 2) {
                        overrun = false;
                    }
                    notifyAll();
                }
            }
        } catch (IOException | RuntimeException e) {
            fail(e);
        } finally {
            closeTarget();
        }
    }

    private void fail(Exception e) {
        String why;
        synchronized (this) {
            if (closed) {
                return; // closed under a blocked write: not the target's fault
            }
            why = "console " + spec + " failed: " + (e.getMessage() == null ? e.toString() : e.getMessage());
        }
        // Reported before the buffer is released, so whoever drains sees the VM's failure first.
        onFailure.accept(why);
        synchronized (this) {
            failure = why;
            size = 0;
            notifyAll();
        }
    }

    private void waitQuietly(long millis) {
        try {
            wait(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A FIFO, opened at the first write (in the writer thread): the open waits for a reader. */
    private static final class Fifo extends OutputStream {
        private final Path path;
        private volatile FileOutputStream out;

        Fifo(Path path) {
            this.path = path;
        }

        private FileOutputStream out() throws IOException {
            if (out == null) {
                out = new FileOutputStream(path.toFile());
            }
            return out;
        }

        @Override
        public void write(int b) throws IOException {
            out().write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out().write(b, off, len);
        }

        @Override
        public void close() throws IOException {
            FileOutputStream o = out;
            if (o != null) {
                o.close();
            }
        }
    }

    /** A socket's output stream that closes the socket with it. */
    private static final class SocketStream extends OutputStream {
        private final Socket socket;
        private final OutputStream out;

        SocketStream(Socket socket) throws IOException {
            this.socket = socket;
            this.out = socket.getOutputStream();
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
