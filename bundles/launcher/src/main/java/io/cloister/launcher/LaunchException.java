package io.cloister.launcher;

/**
 * A failure the user can act on. The launcher prints its message as one line and exits with
 * {@link #exitCode()}; the stack trace only with --verbose.
 */
public final class LaunchException extends Exception {
    private static final long serialVersionUID = 1L;
    /** Bad command line, feature file, bundle or configuration. */
    public static final int CONFIG = 2;
    /** The runtime started but the VMM failed. */
    public static final int RUNTIME = 1;
    /** A guest image or initrd that cannot be loaded: bad input, refused before it runs (README, issue 14). */
    public static final int GUEST = 2;

    private final int exitCode;

    public LaunchException(int exitCode, String message) {
        super(message);
        this.exitCode = exitCode;
    }

    public LaunchException(int exitCode, String message, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }
}
