package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/**
 * The packed compares, adds and subtracts done on all lanes of a chunk at once (PackedInt.lanes)
 * against the same operation lane by lane, and PMOVMSKB's gathered top bits against a loop over
 * the bytes: on random chunks, chunks that agree in some lanes (a compare's other answer), and the
 * lanes' edges (0, all ones, the top bit alone, all but the top bit).
 */
class PackedIntTest {
    private static final int[] OPS = {0x74, 0x75, 0x76, 0xfc, 0xfd, 0xfe, 0xf8, 0xf9, 0xfa};
    private static final long[] EDGES = {0, -1, 0x8080808080808080L, 0x7f7f7f7f7f7f7f7fL, 0x8000800080008000L,
            0x7fff7fff7fff7fffL, 0x8000000080000000L, 0x7fffffff7fffffffL, 0x0100010001000100L, 0xff00ff00ff00ff00L};

    @Test
    void allLanesAtOnceEqualLaneByLane() {
        SplittableRandom random = new SplittableRandom(25);
        for (int n = 0; n < 200_000; n++) {
            long a = n < EDGES.length * EDGES.length ? EDGES[n % EDGES.length] : random.nextLong();
            long b = n < EDGES.length * EDGES.length ? EDGES[n / EDGES.length] : random.nextLong();
            if (n % 3 == 1) {
                b = a ^ (random.nextLong() & random.nextLong() & random.nextLong()); // agrees in many bits, often in whole lanes
            } else if (n % 3 == 2) {
                long keep = random.nextLong() & 0xff00ff0000ffff00L;
                b = (a & keep) | (b & ~keep); // whole lanes equal
            }
            for (int op : OPS) {
                assertEquals(PackedInt.byLane(op, a, b), PackedInt.lanes(op, a, b),
                        String.format("0F %02x on %016x, %016x", op, a, b));
            }
        }
    }

    @Test
    void byteSignsGatherEachBytesTopBit() {
        SplittableRandom random = new SplittableRandom(7);
        for (int n = 0; n < 100_000; n++) {
            long v = n < EDGES.length ? EDGES[n] : random.nextLong();
            int expected = 0;
            for (int i = 0; i < 8; i++) {
                expected |= (int) (v >>> (8 * i + 7) & 1) << i;
            }
            assertEquals(expected, PackedInt.byteSigns(v), String.format("%016x", v));
        }
    }
}
