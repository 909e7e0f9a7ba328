package io.cloister.api.device;

import org.osgi.annotation.versioning.ProviderType;

/**
 * What the VM's console receives (the VMM's stdin), for the one device that is the console (the
 * UART at COM1). The device takes bytes as it has room for them; a byte not taken stays with the
 * source, so a full receive FIFO holds input back instead of losing it. Callable from any thread.
 */
@ProviderType
public interface ConsoleInput {
    /** A console with no input side: nothing ever arrives. */
    ConsoleInput NONE = new ConsoleInput() {
        @Override
        public int read() {
            return -1;
        }

        @Override
        public void onAvailable(Runnable listener) {
        }
    };

    /** The next byte (0-255), or -1 if none is waiting now; never blocks. */
    int read();

    /**
     * Who to tell (on any thread, with no lock of the source held) that bytes have arrived, so
     * the device can {@link #read} them; null for nobody. The device sets it when attached and
     * clears it when detached.
     */
    void onAvailable(Runnable listener);
}
