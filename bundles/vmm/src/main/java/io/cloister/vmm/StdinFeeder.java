package io.cloister.vmm;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;

/**
 * Feeds the VMM's stdin to a VM's console input. From a terminal (raw mode) it reads keys with
 * QEMU's escapes: Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A h lists the keys, any
 * other key after Ctrl-A is dropped. From a pipe or a file the bytes go as they are, and its end
 * leaves the guest running. Input waits (the thread blocks) while the guest does not take it.
 */
final class StdinFeeder {
    static final int CTRL_A = 0x01;
    static final String HELP = "\r\nC-a h    print this help\r\nC-a x    exit the VMM\r\nC-a C-a  send C-a to the guest\r\n";

    private final ConsoleIn target;
    private final boolean escapes;
    private final Runnable quit;
    private final PrintStream err;
    private boolean afterEscape;

    /** {@code escapes}: a terminal's keys, with Ctrl-A commands; {@code quit}: what Ctrl-A x does. */
    StdinFeeder(ConsoleIn target, boolean escapes, Runnable quit, PrintStream err) {
        this.target = target;
        this.escapes = escapes;
        this.quit = quit;
        this.err = err;
    }

    /** Reads {@code in} to its end (or until Ctrl-A x, or the VM's end) on a daemon thread. */
    Thread start(InputStream in) {
        return Thread.ofPlatform().daemon().name("vmm-stdin").start(() -> run(in));
    }

    void run(InputStream in) {
        byte[] buf = new byte[512];
        try {
            int n;
            while ((n = in.read(buf)) > 0) {
                if (!feed(buf, n)) {
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
