package io.cloister.devices;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;

import io.cloister.api.device.ConsoleInput;

/** Console input for device tests: what the test types waits here until the device reads it. */
final class TypedInput implements ConsoleInput {
    private final ArrayDeque<Integer> waiting = new ArrayDeque<>();
    private Runnable listener;

    /** Types {@code text} and tells the device, as the VMM's stdin reader does. */
    void type(String text) {
        for (byte b : text.getBytes(StandardCharsets.ISO_8859_1)) {
            waiting.add(b & 0xff);
        }
        if (listener != null) {
            listener.run();
        }
    }

    /** Bytes typed and not taken yet. */
    int waiting() {
        return waiting.size();
    }

    @Override
    public int read() {
        Integer b = waiting.poll();
        return b == null ? -1 : b;
    }

    @Override
    public void onAvailable(Runnable l) {
        listener = l;
    }
}
