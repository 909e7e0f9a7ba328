package io.cloister.cpu.x86;

/**
 * The packed-integer operations of MMX and SSE2, on 64-bit chunks: an XMM register is two chunks
 * (both get the operation), an MMX register one. Operations that move data across lanes take the
 * whole register as a little-endian byte array of 8 or 16 bytes.
 */
final class PackedInt {
    private PackedInt() {
    }

    private static long lane(long v, int i, int bits) {
        return bits == 64 ? v : (v >>> i) & ((1L << bits) - 1);
    }

    private static long slane(long v, int i, int bits) {
        return (v << (64 - i - bits)) >> (64 - bits);
    }

    private static long put(long acc, long x, int i, int bits) {
        return bits == 64 ? x : acc | ((x & ((1L << bits) - 1)) << i);
    }

    private static long sat(long x, long lo, long hi) {
        return Math.max(lo, Math.min(hi, x));
    }

    /** The lane-wise operation of 0F {@code op} (an MMX/SSE2 opcode {@link #isLanes} knows) on one chunk. */
    static long lanes(int op, long a, long b) {
        return switch (op) {
            case 0xdb -> a & b; // PAND
            case 0xdf -> ~a & b; // PANDN
            case 0xeb -> a | b; // POR
            case 0xef -> a ^ b; // PXOR
            case 0xd4 -> a + b; // PADDQ
            case 0xfb -> a - b; // PSUBQ
            case 0xf4 -> (a & 0xffffffffL) * (b & 0xffffffffL); // PMULUDQ
            case 0xf6 -> { // PSADBW
                long s = 0;
                for (int i = 0; i < 64; i += 8) {
                    s += Math.abs(lane(a, i, 8) - lane(b, i, 8));
                }
                yield s;
            }
            case 0xf5 -> { // PMADDWD
                long r = 0;
                for (int i = 0; i < 64; i += 32) {
                    long s = slane(a, i, 16) * slane(b, i, 16) + slane(a, i + 16, 16) * slane(b, i + 16, 16);
                    r = put(r, s, i, 32);
                }
                yield r;
            }
            // The commonest (glibc's string functions compare bytes) on all lanes at once.
            case 0x74 -> equal(a, b, 8); // PCMPEQB
            case 0x75 -> equal(a, b, 16); // PCMPEQW
            case 0x76 -> equal(a, b, 32); // PCMPEQD
            case 0xfc -> add(a, b, 8); // PADDB
            case 0xfd -> add(a, b, 16); // PADDW
            case 0xfe -> add(a, b, 32); // PADDD
            case 0xf8 -> sub(a, b, 8); // PSUBB
            case 0xf9 -> sub(a, b, 16); // PSUBW
            case 0xfa -> sub(a, b, 32); // PSUBD
            default -> byLane(op, a, b);
        };
    }

    /** {@link #lanes} one lane after the other (for the forms {@link #width} knows): what the forms done on all lanes at once must equal. */
    static long byLane(int op, long a, long b) {
        int bits = width(op);
        long r = 0;
        for (int i = 0; i < 64; i += bits) {
            r = put(r, one(op, a, b, i, bits), i, bits);
        }
        return r;
    }

    /** Each lane's bits below its top bit, for lanes of 8, 16 or 32 bits. */
    private static long low(int bits) {
        return bits == 8 ? 0x7f7f7f7f7f7f7f7fL : bits == 16 ? 0x7fff7fff7fff7fffL : 0x7fffffff7fffffffL;
    }

    /**
     * All ones in each lane where a and b agree: a lane of t = a ^ b is zero exactly when neither
     * its low bits (their sum with all ones below the top carries into the top) nor its top bit is
     * set; no sum carries out of its lane.
     */
    private static long equal(long a, long b, int bits) {
        long low = low(bits);
        long t = a ^ b;
        long zero = ~(((t & low) + low) | t | low); // each lane's top bit: t's lane is zero
        return (zero >>> (bits - 1)) * ((1L << bits) - 1); // 1 in a lane times all ones: no carry out of it
    }

    /** Lane-wise a + b: the low bits added apart from the top bits, whose sum is then the XOR with the carry into them. */
    private static long add(long a, long b, int bits) {
        long low = low(bits);
        return ((a & low) + (b & low)) ^ ((a ^ b) & ~low);
    }

    /** Lane-wise a - b: each lane's top bit of a set first, so that no borrow leaves the lane; then the true top bit. */
    private static long sub(long a, long b, int bits) {
        long low = low(bits);
        return ((a | ~low) - (b & low)) ^ ((a ^ ~b) & ~low);
    }

    /** The top bit of each of the chunk's 8 bytes, byte i's as bit i (PMOVMSKB): gathered by one multiply, whose partial products never overlap. */
    static int byteSigns(long chunk) {
        return (int) ((((chunk & 0x8080808080808080L) >>> 7) * 0x0102040810204080L) >>> 56);
    }

    /** Whether {@link #lanes} knows {@code op}. */
    static boolean isLanes(int op) {
        return switch (op) {
            case 0xdb, 0xdf, 0xeb, 0xef, 0xd4, 0xfb, 0xf4, 0xf6, 0xf5 -> true;
            default -> width(op) != 0;
        };
    }

    private static int width(int op) {
        return switch (op) {
            case 0x74, 0x64, 0xfc, 0xf8, 0xd8, 0xdc, 0xe8, 0xec, 0xda, 0xde, 0xe0 -> 8;
            case 0x75, 0x65, 0xfd, 0xf9, 0xd9, 0xdd, 0xe9, 0xed, 0xea, 0xee, 0xe3, 0xd5, 0xe5, 0xe4 -> 16;
            case 0x76, 0x66, 0xfe, 0xfa -> 32;
            default -> 0;
        };
    }

    private static long one(int op, long a, long b, int i, int bits) {
        long ua = lane(a, i, bits);
        long ub = lane(b, i, bits);
        long sa = slane(a, i, bits);
        long sb = slane(b, i, bits);
        long smax = (1L << (bits - 1)) - 1;
        long umax = (1L << bits) - 1;
        return switch (op) {
            case 0x74, 0x75, 0x76 -> ua == ub ? -1 : 0; // PCMPEQ
            case 0x64, 0x65, 0x66 -> sa > sb ? -1 : 0; // PCMPGT
            case 0xfc, 0xfd, 0xfe -> ua + ub; // PADD
            case 0xf8, 0xf9, 0xfa -> ua - ub; // PSUB
            case 0xdc, 0xdd -> Math.min(umax, ua + ub); // PADDUS
            case 0xd8, 0xd9 -> Math.max(0, ua - ub); // PSUBUS
            case 0xec, 0xed -> sat(sa + sb, -smax - 1, smax); // PADDS
            case 0xe8, 0xe9 -> sat(sa - sb, -smax - 1, smax); // PSUBS
            case 0xda -> Math.min(ua, ub); // PMINUB
            case 0xde -> Math.max(ua, ub); // PMAXUB
            case 0xea -> Math.min(sa, sb); // PMINSW
            case 0xee -> Math.max(sa, sb); // PMAXSW
            case 0xe0, 0xe3 -> (ua + ub + 1) >>> 1; // PAVG
            case 0xd5 -> sa * sb; // PMULLW
            case 0xe5 -> (sa * sb) >> 16; // PMULHW
            case 0xe4 -> (ua * ub) >>> 16; // PMULHUW
            default -> throw new IllegalArgumentException();
        };
    }

    /** Shifts each lane of {@code bits} by {@code count}: kind 2 logical right, 4 arithmetic right, 6 left. */
    static long shift(int kind, int bits, long a, long count) {
        long r = 0;
        boolean over = Long.compareUnsigned(count, bits - 1) > 0;
        for (int i = 0; i < 64; i += bits) {
            long x = switch (kind) {
                case 2 -> over ? 0 : lane(a, i, bits) >>> count;
                case 4 -> slane(a, i, bits) >> (over ? bits - 1 : count);
                default -> over ? 0 : lane(a, i, bits) << count;
            };
            r = put(r, x, i, bits);
        }
        return r;
    }

    // ---------------------------------------------------------------- across lanes (byte arrays)

    static byte[] bytes(long... chunks) {
        byte[] b = new byte[8 * chunks.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (chunks[i / 8] >>> (8 * (i % 8)));
        }
        return b;
    }

    static long chunk(byte[] b, int c) {
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v |= (b[8 * c + i] & 0xffL) << (8 * i);
        }
        return v;
    }

    /** PUNPCKL/H: interleaves the low (or high) halves' lanes of {@code w} bytes, a's first. */
    static byte[] unpack(byte[] a, byte[] b, int w, boolean high) {
        int n = a.length;
        byte[] r = new byte[n];
        int from = high ? n / 2 : 0;
        for (int l = 0; l < n / (2 * w); l++) {
            System.arraycopy(a, from + l * w, r, 2 * l * w, w);
            System.arraycopy(b, from + l * w, r, (2 * l + 1) * w, w);
        }
        return r;
    }

    /** PACKSSWB (63), PACKUSWB (67), PACKSSDW (6B): a's lanes narrowed with saturation, then b's. */
    static byte[] pack(int op, byte[] a, byte[] b) {
        int w = op == 0x6b ? 4 : 2;
        int n = a.length;
        byte[] r = new byte[n];
        int lanes = n / w;
        for (int l = 0; l < 2 * lanes; l++) {
            byte[] src = l < lanes ? a : b;
            int at = (l % lanes) * w;
            long v = w == 2 ? (short) ((src[at] & 0xff) | (src[at + 1] << 8))
                    : (src[at] & 0xff) | (src[at + 1] & 0xff) << 8 | (src[at + 2] & 0xff) << 16 | src[at + 3] << 24;
            if (op == 0x63) {
                r[l] = (byte) sat(v, -128, 127);
            } else if (op == 0x67) {
                r[l] = (byte) sat(v, 0, 255);
            } else {
                long s = sat(v, -32768, 32767);
                r[2 * l] = (byte) s;
                r[2 * l + 1] = (byte) (s >> 8);
            }
        }
        return r;
    }

    /** PSHUFW/PSHUFLW on one chunk: words chosen by imm8. */
    static long shuffleWords(long a, int imm) {
        long r = 0;
        for (int i = 0; i < 4; i++) {
            r |= ((a >>> (16 * ((imm >>> (2 * i)) & 3))) & 0xffff) << (16 * i);
        }
        return r;
    }
}
