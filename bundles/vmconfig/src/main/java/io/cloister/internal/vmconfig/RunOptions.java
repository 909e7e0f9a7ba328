package io.cloister.internal.vmconfig;

/** The options of 'vmm run' that the run itself takes (not the VM's): checked by the launcher and by the run entry. */
public final class RunOptions {
    /** The most seconds a --timeout or --stats may give: about 31 years, far from overflowing milliseconds. */
    static final double MAX_SECONDS = 1e9;

    private RunOptions() {
    }

    /** A positive number of seconds (decimals allowed), in milliseconds, at least 1. */
    public static long millis(String option, String text) {
        double seconds;
        try {
            seconds = Double.parseDouble(text.trim());
        } catch (NumberFormatException | NullPointerException e) {
            seconds = Double.NaN;
        }
        if (!(seconds > 0 && seconds <= MAX_SECONDS)) {
            throw new IllegalArgumentException("bad --" + option + " '" + text + "': a number of seconds greater than 0 (and at most "
                    + (long) MAX_SECONDS + ") expected");
        }
        return Math.max(1, Math.round(seconds * 1000));
    }
}
