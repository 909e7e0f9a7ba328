package io.cloister.api;

/**
 * A refused operation. Every Cloister service reports bad input with this exception; the state of
 * the object it was called on is unchanged when it is thrown.
 */
public class CloisterException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final Errno errno;

    public CloisterException(Errno errno, String message) {
        super(message);
        this.errno = errno;
    }

    public CloisterException(Errno errno, String message, Throwable cause) {
        super(message, cause);
        this.errno = errno;
    }

    public Errno errno() {
        return errno;
    }

    @Override
    public String getMessage() {
        return errno + ": " + super.getMessage();
    }
}
