package io.cloister.vmm;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;

/**
 * Feeds the VMM's stdin to a VM's console input. From a terminal (raw mode) it reads keys with
 * QEMU's escapes: Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A h lists the keys, any
 * other key after Ctrl-A is dropped. From a pipe or a file the bytes go as they are, and its end
 * leaves the guest running. Input waits (the thread blocks) while the guest does not take it.
 *
 * <p>It reads only what stdin has ready, and looks again every {@value #POLL_MS} ms: a thread
 * blocked in a read of stdin cannot be stopped, and when the run was over it took the next bytes
 * from whoever reads stdin then. In a JVM that goes on after the run that is not nothing: the test
 * JVM's stdin is Maven Surefire's command channel, and a feeder left from an in-process run took its
 * "bye" acknowledgement, so the JVM waited 30 s to be killed at the end of every test run.
 */
final class StdinFeeder {
    static final int CTRL_A = 0x01;
    static final String HELP = "\r\nC-a h    print this help\r\nC-a x    exit the VMM\r\nC-a C-a  send C-a to the guest\r\n";
    /** How often an idle feeder looks for input: a key's delay at most, and a stop's. */
    static final int POLL_MS = 10;

    private final ConsoleIn target;
    private final boolean escapes;
    private final Runnable quit;
    private final PrintStream err;
    private boolean afterEscape;
    private volatile boolean stopped;

    /** {@code escapes}: a terminal's keys, with Ctrl-A commands; {@code quit}: what Ctrl-A x does. */
    StdinFeeder(ConsoleIn target, boolean escapes, Runnable quit, PrintStream err) {
        this.target = target;
        this.escapes = escapes;
        this.quit = quit;
        this.err = err;
    }

    /** Reads {@code in} until Ctrl-A x, the VM's end or {@link #stop} (its end: nothing more to feed) on a daemon thread. */
    Thread start(InputStream in) {
        return Thread.ofPlatform().daemon().name("vmm-stdin").start(() -> run(in));
    }

    /** The run is over: the feeder ends within {@value #POLL_MS} ms and reads nothing more. */
    void stop() {
        stopped = true;
    }

    void run(InputStream in) {
        byte[] buf = new byte[512];
        try {
            while (!stopped && !target.isClosed()) {
                int ready = in.available(); // 0 at the end of a pipe or file too: the guest runs on
                if (ready <= 0) {
                    Thread.sleep(POLL_MS);
                    continue;
                }
                int n = in.read(buf, 0, Math.min(ready, buf.length));
                if (n < 0 || !feed(buf, n)) {
                    return;
                }
            }
        } catch (IOException e) {
            // stdin closed under us: no more input, the guest goes on
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One read's bytes; false when feeding is over (quit, or the VM ended). */
    boolean feed(byte[] buf, int n) throws InterruptedException {
        if (!escapes) {
            return target.offer(buf, 0, n);
        }
        byte[] out = new byte[n];
        int len = 0;
        for (int i = 0; i < n; i++) {
            int b = buf[i] & 0xff;
            if (afterEscape) {
                afterEscape = false;
                switch (b) {
                    case 'x', 'X' -> {
                        if (len > 0 && !target.offer(out, 0, len)) {
                            return false;
                        }
                        quit.run();
                        return false;
                    }
                    case CTRL_A -> out[len++] = (byte) CTRL_A;
                    case 'h', 'H', '?' -> {
                        err.print(HELP);
                        err.flush();
                    }
                    default -> { } // not a command: dropped, as QEMU does
                }
            } else if (b == CTRL_A) {
                afterEscape = true;
            } else {
                out[len++] = (byte) b;
            }
        }
        return len == 0 || target.offer(out, 0, len);
    }
}
