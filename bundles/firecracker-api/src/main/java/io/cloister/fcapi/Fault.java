package io.cloister.fcapi;

/**
 * A request refused with Firecracker's error body {@code {"fault_message": ...}}: 400 for bad
 * input or a call the instance's state does not allow, as Firecracker answers both.
 */
final class Fault extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int status;

    Fault(String message) {
        this(400, message);
    }

    Fault(int status, String message) {
        super(message, null, false, false);
        this.status = status;
    }

    int status() {
        return status;
    }
}
