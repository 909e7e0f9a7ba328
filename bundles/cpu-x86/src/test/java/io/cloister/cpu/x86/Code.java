package io.cloister.cpu.x86;

/** Machine code written out in tests as unsigned byte values. */
final class Code {
    private Code() {
    }

    static byte[] bytes(int... b) {
        byte[] out = new byte[b.length];
        for (int i = 0; i < b.length; i++) {
            out[i] = (byte) b[i];
        }
        return out;
    }
}
