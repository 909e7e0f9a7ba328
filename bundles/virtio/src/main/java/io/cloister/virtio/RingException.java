package io.cloister.virtio;

/** The driver broke the virtqueue protocol (or pointed it where the device may not go): the device needs a reset. */
final class RingException extends Exception {
    private static final long serialVersionUID = 1L;

    RingException(String message) {
        super(message);
    }
}
