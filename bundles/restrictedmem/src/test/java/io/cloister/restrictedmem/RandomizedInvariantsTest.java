package io.cloister.restrictedmem;

import static io.cloister.api.memory.Pages.SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.restricted.Binding;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.api.restricted.RestrictedStats;
import io.cloister.internal.hostmem.HostMemory;

/**
 * Random operation sequences checked against a plain model of what every page should be: its
 * state, its owner, its content byte. After each step: no page bound twice, accounting sums, no
 * private byte readable by the host.
 */
class RandomizedInvariantsTest {
    static final int PAGES = 96;

    /** The model: per page, private?, owning binding (or null), content byte (0 = zero page). */
    static final class Model {
        final boolean[] priv = new boolean[PAGES];
        final Binding[] owner = new Binding[PAGES];
        final byte[] content = new byte[PAGES];
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 42, 1234, 99991})
    void randomSequencesKeepTheInvariants(long seed) {
        Random rnd = new Random(seed);
        RestrictedMemory provider = new RestrictedMemory();
        long mappings = HostMemory.liveMappings();
        RestrictedFile f = provider.create("vm", PAGES * SIZE, PageState.PRIVATE);
        Model m = new Model();
        java.util.Arrays.fill(m.priv, true);
        List<Binding> bindings = new ArrayList<>();
        int nextSlot = 0;
        for (int step = 0; step < 2000; step++) {
            int first = rnd.nextInt(PAGES);
            int count = 1 + rnd.nextInt(Math.min(12, PAGES - first));
            long off = (long) first * SIZE;
            long len = (long) count * SIZE;
            switch (rnd.nextInt(7)) {
                case 0 -> { // bind
                    boolean free = true;
                    for (int p = first; p < first + count; p++) {
                        free &= m.owner[p] == null;
                    }
                    int slot = nextSlot++;
                    try {
                        Binding b = f.bind("vm", slot, off, 0x100000L * slot, len, null);
                        assertTrue(free, "bound over an owned page");
                        bindings.add(b);
                        for (int p = first; p < first + count; p++) {
                            m.owner[p] = b;
                        }
                    } catch (CloisterException e) {
                        assertFalse(free, "refused a free range: " + e.getMessage());
                        assertEquals(Errno.EINVAL, e.errno());
                    }
                }
                case 1 -> { // unbind
                    if (!bindings.isEmpty()) {
                        Binding b = bindings.remove(rnd.nextInt(bindings.size()));
                        b.unbind();
                        for (int p = 0; p < PAGES; p++) {
                            if (m.owner[p] == b) {
                                m.owner[p] = null;
                            }
                        }
                    }
                }
                case 2, 3 -> { // convert
                    PageState to = rnd.nextBoolean() ? PageState.PRIVATE : PageState.SHARED;
                    ContentRule rule = rnd.nextBoolean() ? ContentRule.PRESERVE : ContentRule.DESTROY;
                    f.convert(off, len, to, rule);
                    for (int p = first; p < first + count; p++) {
                        m.priv[p] = to == PageState.PRIVATE;
                        if (rule == ContentRule.DESTROY) {
                            m.content[p] = 0;
                        }
                    }
                }
                case 4 -> { // punch
                    f.punch(off, len);
                    for (int p = first; p < first + count; p++) {
                        m.content[p] = 0;
                    }
                }
                case 5 -> { // host write
                    byte v = (byte) (1 + rnd.nextInt(250));
                    boolean anyPrivate = false;
                    for (int p = first; p < first + count; p++) {
                        anyPrivate |= m.priv[p];
                    }
                    MemorySegment src = Arena.ofAuto().allocate(len);
                    src.fill(v);
                    try {
                        f.hostWrite(off, src);
                        assertFalse(anyPrivate, "host wrote a private page");
                        for (int p = first; p < first + count; p++) {
                            m.content[p] = v;
                        }
                    } catch (CloisterException e) {
                        assertTrue(anyPrivate);
                        assertEquals(Errno.EACCES, e.errno());
                    }
                }
                default -> { // guest write through the owner, as the page's state
                    Binding b = m.owner[first];
                    if (b != null && rnd.nextBoolean()) {
                        // The engines' fast path: straight into the bound segment, no bookkeeping.
                        byte v = (byte) (1 + rnd.nextInt(250));
                        b.guestSegment().asSlice(off - b.offset(), SIZE).fill(v);
                        m.content[first] = v;
                    } else if (b != null) {
                        byte v = (byte) (1 + rnd.nextInt(250));
                        MemorySegment src = Arena.ofAuto().allocate(SIZE);
                        src.fill(v);
                        PageState as = m.priv[first] ? PageState.PRIVATE : PageState.SHARED;
                        long gpa = b.gpa() + (off - b.offset());
                        assertTrue(b.guest().write(gpa, src, as));
                        assertFalse(b.guest().write(gpa, src, as == PageState.PRIVATE ? PageState.SHARED : PageState.PRIVATE));
                        m.content[first] = v;
                    }
                }
            }
            check(f, m, provider);
        }
        for (Binding b : bindings) {
            b.unbind();
        }
        f.close();
        assertEquals(new RestrictedStats(0, 0, 0, 0, 0, 0), provider.stats());
        assertEquals(mappings, HostMemory.liveMappings());
    }

    private static void check(RestrictedFile f, Model m, RestrictedMemory provider) {
        RestrictedStats s = f.stats();
        int priv = 0;
        Map<Binding, Integer> owned = new HashMap<>();
        MemorySegment page = Arena.ofAuto().allocate(SIZE);
        for (int p = 0; p < PAGES; p++) {
            priv += m.priv[p] ? 1 : 0;
            assertEquals(m.priv[p] ? PageState.PRIVATE : PageState.SHARED, f.state(p * SIZE), "page " + p);
            if (m.owner[p] != null) {
                owned.merge(m.owner[p], 1, Integer::sum);
            }
            if (m.priv[p]) {
                try {
                    f.hostRead(p * SIZE, page);
                    fail("host read private page " + p);
                } catch (CloisterException e) {
                    assertEquals(Errno.EACCES, e.errno());
                }
            } else {
                f.hostRead(p * SIZE, page);
                assertEquals(m.content[p], page.get(ValueLayout.JAVA_BYTE, SIZE - 1), "content of page " + p);
            }
        }
        assertEquals(priv, s.privatePages());
        assertEquals(PAGES, s.privatePages() + s.sharedPages());
        assertTrue(s.allocatedPages() + s.punchedPages() <= PAGES);
        assertEquals(owned.size(), s.bindings());
        for (var e : owned.entrySet()) {
            assertEquals(e.getKey().length() / SIZE, (long) e.getValue(), "binding owns exactly its pages");
        }
        assertEquals(s.bindings(), provider.stats().bindings());
    }

    /**
     * Converters flip random ranges while guests write two-page records as SHARED. A write lands on
     * both pages or on neither: at the end every record holds exactly the last write that succeeded.
     */
    @Test
    void concurrentConversionsNeverTearAnAccess() throws Exception {
        RestrictedMemory provider = new RestrictedMemory();
        RestrictedFile f = provider.create("vm", 64 * SIZE, PageState.SHARED);
        Binding b = f.bind("vm", 0, 0, 0, 64 * SIZE, null);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicLong writes = new AtomicLong();
        AtomicLong faults = new AtomicLong();
        long[] lastWritten = new long[32]; // record i is written only by lane i % 2
        CountDownLatch done = new CountDownLatch(4);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 2; t++) {
            long seed = t;
            threads.add(Thread.ofPlatform().start(() -> {
                Random r = new Random(seed);
                try {
                    while (!stop.get()) {
                        int first = r.nextInt(63);
                        f.convert(first * SIZE, (1 + r.nextInt(64 - first)) * SIZE,
                                r.nextBoolean() ? PageState.PRIVATE : PageState.SHARED, ContentRule.PRESERVE);
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    done.countDown();
                }
            }));
        }
        for (int t = 0; t < 2; t++) {
            long seed = 100 + t;
            int lane = t; // writers own disjoint records: only conversions can tear them
            threads.add(Thread.ofPlatform().start(() -> {
                Random r = new Random(seed);
                MemorySegment rec = Arena.ofConfined().allocate(2 * SIZE);
                MemorySegment back = Arena.ofConfined().allocate(2 * SIZE);
                try {
                    while (!stop.get()) {
                        int record = r.nextInt(16) * 2 + lane;
                        long gpa = record * 2L * SIZE;
                        long v = r.nextLong();
                        rec.set(ValueLayout.JAVA_LONG, 0, v);
                        rec.set(ValueLayout.JAVA_LONG, 2 * SIZE - 8, v);
                        if (b.guest().write(gpa, rec, PageState.SHARED)) {
                            lastWritten[record] = v;
                            writes.incrementAndGet();
                        } else {
                            faults.incrementAndGet();
                        }
                        if (b.guest().read(gpa, back, PageState.SHARED)) {
                            long head = back.get(ValueLayout.JAVA_LONG, 0);
                            long tail = back.get(ValueLayout.JAVA_LONG, 2 * SIZE - 8);
                            if (head != tail) {
                                throw new AssertionError("torn record at gpa 0x" + Long.toHexString(gpa));
                            }
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    done.countDown();
                }
            }));
        }
        // Runs until both outcomes were seen often enough (or a failure), not for a fixed time: on a
        // loaded machine a fixed time could end before the race had a chance to show.
        long deadline = System.nanoTime() + 60_000_000_000L;
        while ((writes.get() < 2_000 || faults.get() < 2_000) && failure.get() == null && System.nanoTime() < deadline) {
            Thread.onSpinWait();
            Thread.yield();
        }
        stop.set(true);
        done.await();
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        assertTrue(writes.get() > 100 && faults.get() > 100, "writes " + writes + ", faults " + faults);
        RestrictedStats s = f.stats();
        assertEquals(64, s.privatePages() + s.sharedPages());
        f.convert(0, 64 * SIZE, PageState.SHARED, ContentRule.PRESERVE);
        MemorySegment back = Arena.ofAuto().allocate(2 * SIZE);
        for (int record = 0; record < 32; record++) {
            f.hostRead(record * 2L * SIZE, back);
            assertEquals(lastWritten[record], back.get(ValueLayout.JAVA_LONG, 0), "head of record " + record);
            assertEquals(lastWritten[record], back.get(ValueLayout.JAVA_LONG, 2 * SIZE - 8), "tail of record " + record);
        }
        b.unbind();
        f.close();
    }
}
