package io.cloister.restrictedmem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The sparse bitmap against {@link BitSet}, across chunk boundaries and a partial last chunk. */
class PageBitsTest {
    static final long CHUNK = PageBits.CHUNK_PAGES;
    static final int PAGES = (int) (3 * CHUNK + 100);

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void randomChangesMatchABitSet(boolean initial) {
        for (long seed = 0; seed < 8; seed++) {
            Random rnd = new Random(seed);
            PageBits bits = new PageBits(PAGES, initial);
            BitSet model = new BitSet(PAGES);
            model.set(0, PAGES, initial);
            for (int step = 0; step < 400; step++) {
                int from = rnd.nextInt(PAGES);
                int len = rnd.nextInt(4) == 0 ? rnd.nextInt(PAGES - from) + 1 : rnd.nextInt(Math.min(130, PAGES - from)) + 1;
                int to = from + len;
                boolean set = rnd.nextBoolean();
                int before = model.get(from, to).cardinality();
                long changed = set ? bits.set(from, to) : bits.clear(from, to);
                model.set(from, to, set);
                assertEquals(set ? len - before : before, changed, "seed " + seed + " step " + step);
                assertEquals(model.cardinality(), bits.count());
                int qFrom = rnd.nextInt(PAGES);
                int qTo = qFrom + rnd.nextInt(PAGES - qFrom + 1);
                assertEquals(model.get(qFrom, qTo).cardinality(), bits.count(qFrom, qTo), "count [" + qFrom + ", " + qTo + ")");
                int next = model.nextSetBit(qFrom);
                assertEquals(next >= 0 && next < qTo ? next : -1, bits.firstSet(qFrom, qTo), "firstSet [" + qFrom + ", " + qTo + ")");
                int probe = rnd.nextInt(PAGES);
                assertEquals(model.get(probe), bits.get(probe), "page " + probe);
            }
        }
    }

    @Test
    void onlyChangedChunksCostMemory() {
        PageBits priv = new PageBits(1L << 28, true); // 1 TiB of pages, all private
        assertEquals(1L << 28, priv.count());
        priv.set(0, 1L << 28); // already so: nothing to store
        assertEquals(0, priv.materializedChunks());
        priv.clear((1L << 28) - 1, 1L << 28);
        priv.clear(5, 6);
        assertEquals(2, priv.materializedChunks());
        assertEquals((1L << 28) - 2, priv.count());
        assertEquals((1L << 28) - 2, priv.count(0, 1L << 28));
        assertEquals(6, priv.firstSet(5, 1L << 28));
        PageBits allocated = new PageBits(1L << 28, false);
        allocated.clear(0, 1L << 28);
        assertEquals(-1, allocated.firstSet(0, 1L << 28));
        assertEquals(0, allocated.materializedChunks());
    }

    /** Threads racing to make the same chunks and set bits in them lose no bit and miscount none. */
    @Test
    void concurrentSettersLoseNothing() throws Exception {
        PageBits bits = new PageBits(PAGES, false);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            int lane = t;
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    start.await();
                    for (int p = lane; p < PAGES; p += 4) { // interleaved: every word is shared by all threads
                        bits.set(p, p + 1);
                    }
                    bits.set(0, PAGES); // and overlapping ranges, counted once
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }));
        }
        start.countDown();
        for (Thread t : threads) {
            t.join();
        }
        assertEquals(null, failure.get());
        assertEquals(PAGES, bits.count());
        assertEquals(PAGES, bits.count(0, PAGES));
        assertTrue(bits.get(PAGES - 1));
    }
}
