package io.cloister.vmm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The terminal on the VMM's stdin in raw mode while a guest owns it, as QEMU's -serial stdio does:
 * no line editing, no echo and no signals from keys (Ctrl-C goes to the guest), output
 * post-processing kept so the VMM's own messages still start at column 0. Done with stty(1) on
 * the inherited stdin. Restored by {@link #restore}, which the run calls on its way out, and by a
 * shutdown hook (SIGTERM, SIGINT, System.exit); only SIGKILL leaves the terminal raw ('stty sane').
 */
final class Terminal {
    private static final Logger LOG = LoggerFactory.getLogger(Terminal.class);
    private final String saved;
    private final Thread hook;
    private boolean restored;

    private Terminal(String saved) {
        this.saved = saved;
        this.hook = Thread.ofPlatform().unstarted(this::restore);
    }

    /** Puts stdin's terminal in raw mode; null (nothing changed) if stdin is not a terminal or stty is missing. */
    static Terminal rawIfTerminal() {
        String saved = stty("-g");
        if (saved == null || saved.isBlank()) {
            return null; // stdin is a pipe, a file or /dev/null: its bytes go to the guest as they are
        }
        Terminal t = new Terminal(saved.strip());
        Runtime.getRuntime().addShutdownHook(t.hook);
        if (stty("raw", "-echo", "opost") == null) {
            t.restore();
            return null;
        }
        return t;
    }

    /** Puts the terminal back as it was; once, from whichever exit path comes first. */
    void restore() {
        synchronized (this) {
            if (restored) {
                return;
            }
            restored = true;
        }
        if (stty(saved) == null) {
            LOG.warn("could not restore the terminal's settings; 'stty sane' does");
        }
        if (Thread.currentThread() != hook) {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the VM is shutting down: the hook runs and finds the terminal restored
            }
        }
    }

    /** Runs stty on the inherited stdin; its output, or null if it failed. */
    private static String stty(String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add("stty");
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.INHERIT)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            return p.waitFor() == 0 ? out : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }
}
