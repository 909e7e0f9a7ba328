package io.cloister.vmm;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;

/** Opens a VM's console from its configuration. */
final class Console {
    private Console() {
    }

    static OutputStream open(String spec) {
        if (spec == null || spec.isBlank() || spec.equals("stdout")) {
            return new PrintStream(new FileOutputStream(java.io.FileDescriptor.out), false);
        }
        if (spec.startsWith("file:")) {
            try {
                return new FileOutputStream(spec.substring(5));
            } catch (IOException e) {
                throw new CloisterException(Errno.ENOENT, "console " + spec + " cannot be opened: " + e.getMessage());
            }
        }
        if (spec.startsWith("tcp:")) {
            // Like QEMU's -serial tcp:HOST:PORT: connect to a listener (e.g. nc -l PORT).
            int colon = spec.lastIndexOf(':');
            String host = colon > 4 ? spec.substring(4, colon) : "127.0.0.1";
            try {
                java.net.Socket socket = new java.net.Socket(host, Integer.parseInt(spec.substring(colon + 1)));
                return new java.io.BufferedOutputStream(socket.getOutputStream(), 256) {
                    @Override
                    public void close() throws IOException {
                        super.close();
                        socket.close();
                    }
                };
            } catch (IOException | NumberFormatException e) {
                throw new CloisterException(Errno.ENOENT, "console " + spec + " cannot be reached: " + e.getMessage());
            }
        }
        throw new CloisterException(Errno.EINVAL, "console '" + spec + "' is none of stdout, file:PATH, tcp:HOST:PORT");
    }
}
