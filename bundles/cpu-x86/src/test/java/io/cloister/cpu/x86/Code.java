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

    /** The pieces of code one after the other. */
    static byte[] join(byte[]... parts) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    /** An instruction at an operand size: 0x66 before it for 2 bytes, REX.W for 8, nothing for 1 and 4. */
    static int[] sized(int size, int... insn) {
        int prefix = size == 2 ? 0x66 : size == 8 ? 0x48 : -1;
        if (prefix < 0) {
            return insn;
        }
        int[] out = new int[insn.length + 1];
        out[0] = prefix;
        System.arraycopy(insn, 0, out, 1, insn.length);
        return out;
    }
}
