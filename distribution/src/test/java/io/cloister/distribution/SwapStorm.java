package io.cloister.distribution;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.osgi.framework.Bundle;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.memory.Access;
import io.cloister.api.memory.GuestView;
import io.cloister.api.restricted.PageState;
import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.VmState;
import io.cloister.api.vm.Vmm;
import io.cloister.launcher.VmmRuntime;

/**
 * A VM in a real framework, a conversion storm from several threads, and backend policies hot
 * swapped under it: bundle updates of the VM's policy and switches between technologies. Each
 * storm thread owns a region of guest pages and keeps a model of every page (state, content), so
 * what the VM holds afterwards can be checked exactly. Used by HotSwapTest and, with more cycles,
 * by benchmarks/swap-latency.
 */
final class SwapStorm implements AutoCloseable {
    static final String VM = "storm";
    static final int PAGES = 4096; // 16 MiB
    static final int THREADS = 3;
    /** Technologies whose conversions destroy content, so the model knows every page's bytes. */
    static final List<String> BACKENDS = List.of("sev", "snp", "tdx");

    final VmmRuntime runtime;
    final VirtualMachine vm;
    /** What the storm needs of the Vm beyond its API. */
    final VmInternals internals;
    final GuestView view;
    final AtomicBoolean stop = new AtomicBoolean();
    final AtomicReference<Throwable> failure = new AtomicReference<>();
    final AtomicLong conversions = new AtomicLong();
    final AtomicLong hostReads = new AtomicLong();
    final List<Thread> threads = new ArrayList<>();
    /** Per page: private?, and the long at offset 0 the page holds. */
    final boolean[] modelPrivate = new boolean[PAGES];
    final long[] modelContent = new long[PAGES];

    SwapStorm(Path dir, String backend) throws Exception {
        Path feature = Files.writeString(dir.resolve("storm.json"), Files.readString(Dist.DEFAULT_FEATURE).replace(
                "\"io.cloister.vm~demo\"", "\"io.cloister.vm~" + VM + "\": { \"name\": \"" + VM + "\", \"memory\": \""
                        + (PAGES * 4) + "K\", \"backend\": \"" + backend + "\" },\n    \"io.cloister.vm~demo\""));
        runtime = Dist.runtime(feature);
        Vmm vmm = Bridge.as(Vmm.class, runtime.awaitService("(objectClass=io.cloister.api.vm.Vmm)", 5000));
        long deadline = System.currentTimeMillis() + 5000;
        VirtualMachine found = null;
        while (found == null && System.currentTimeMillis() < deadline) {
            found = vmm.vm(VM).filter(v -> v.state() != VmState.CREATED).orElse(null);
            Thread.sleep(5);
        }
        if (found == null) {
            throw new IllegalStateException("VM " + VM + " did not start");
        }
        vm = found;
        internals = Bridge.as(VmInternals.class, Bridge.target(vm));
        view = internals.guestView();
        Arrays.fill(modelPrivate, true); // every backend here starts private
    }

    Bundle bundle(String bsn) {
        return runtime.bundles().stream().filter(b -> b.getSymbolicName().equals(bsn)).findFirst().orElseThrow();
    }

    VmState state() {
        return vm.state();
    }

    String backend() {
        return vm.backend();
    }

    long[] pauses() {
        return internals.swapStats().pauses();
    }

    void startStorm() {
        int region = PAGES / THREADS;
        for (int t = 0; t < THREADS; t++) {
            int first = t * region;
            long seed = 1000 + t;
            threads.add(Thread.ofPlatform().name("storm-" + t).start(() -> storm(first, region, new Random(seed))));
        }
    }

    private void storm(int first, int count, Random r) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(8);
            while (!stop.get()) {
                int p = first + r.nextInt(count);
                int n = 1 + r.nextInt(Math.min(8, first + count - p));
                boolean toPrivate = r.nextBoolean();
                long rc = internals.guestRequest(new GuestRequest.MapGpaRange((long) p << 12, n,
                        toPrivate ? GuestRequest.MapGpaRange.ATTR_ENCRYPTED : 0));
                if (rc != 0) {
                    throw new AssertionError("conversion of pages " + p + "+" + n + " failed: " + rc + " under " + backend());
                }
                conversions.incrementAndGet();
                for (int i = p; i < p + n; i++) {
                    modelPrivate[i] = toPrivate;
                    modelContent[i] = 0; // every backend of this storm destroys content on conversion
                }
                // The guest writes a marker into one of its pages, in the page's state.
                int w = first + r.nextInt(count);
                long marker = r.nextLong() | 1;
                buf.set(ValueLayout.JAVA_LONG, 0, marker);
                PageState as = modelPrivate[w] ? PageState.PRIVATE : PageState.SHARED;
                Access access = view.write((long) w << 12, buf, as);
                if (access != Access.OK) {
                    throw new AssertionError("guest write of page " + w + " as " + as + ": " + access);
                }
                modelContent[w] = marker;
                // The host reads one of them: shared pages exactly, private ones never in plaintext.
                int h = first + r.nextInt(count);
                hostRead(h, buf);
            }
        } catch (Throwable e) {
            failure.compareAndSet(null, e);
        }
    }

    private void hostRead(int page, MemorySegment buf) {
        buf.set(ValueLayout.JAVA_LONG, 0, 0x5a5a5a5a5a5a5a5aL);
        try {
            vm.hostRead((long) page << 12, buf);
        } catch (CloisterException e) {
            if (modelPrivate[page] && e.errno() == Errno.EACCES) {
                hostReads.incrementAndGet();
                return;
            }
            throw new AssertionError("host read of page " + page + " (" + (modelPrivate[page] ? "private" : "shared") + "): " + e, e);
        }
        long got = buf.get(ValueLayout.JAVA_LONG, 0);
        if (modelPrivate[page] ? got == modelContent[page] : got != modelContent[page]) {
            throw new AssertionError(String.format("host read of %s page %d gave 0x%x, guest holds 0x%x",
                    modelPrivate[page] ? "private" : "shared", page, got, modelContent[page]));
        }
        hostReads.incrementAndGet();
    }

    /** Waits until the storm has converted more pages since the call (it runs, the VM answers it). */
    void awaitProgress() throws InterruptedException {
        long before = conversions.get();
        Await.until(() -> conversions.get() > before || failure.get() != null, 30_000, "the storm to convert pages");
        if (failure.get() != null) {
            throw new AssertionError("storm failed", failure.get());
        }
    }

    /** Waits until every storm thread waits (at the VM's closed gate: its request cannot run now). */
    void awaitAllWaiting() throws InterruptedException {
        Await.until(() -> threads.stream().allMatch(t -> t.getState() == Thread.State.WAITING), 30_000,
                "the storm's requests to wait");
    }

    /** Stops the storm and rethrows the first failure. */
    void stopStorm() throws InterruptedException {
        stop.set(true);
        for (Thread t : threads) {
            t.join();
        }
        if (failure.get() != null) {
            throw new AssertionError("storm failed", failure.get());
        }
    }

    /** Every page's state and content against the model (the policy's privileged view). */
    List<String> mismatches() {
        List<String> bad = new ArrayList<>();
        MemorySegment buf = Arena.ofAuto().allocate(8);
        for (int p = 0; p < PAGES; p++) {
            boolean priv = view.state((long) p << 12) == PageState.PRIVATE;
            view.readContent((long) p << 12, buf);
            long content = buf.get(ValueLayout.JAVA_LONG, 0);
            if (priv != modelPrivate[p] || content != modelContent[p]) {
                bad.add(String.format("page %d: %s 0x%x, expected %s 0x%x", p, priv ? "private" : "shared", content,
                        modelPrivate[p] ? "private" : "shared", modelContent[p]));
            }
        }
        return bad;
    }

    @Override
    public void close() {
        stop.set(true);
        runtime.close();
    }

    static String percentiles(long[] nanos) {
        if (nanos.length == 0) {
            return "none";
        }
        long[] s = nanos.clone();
        Arrays.sort(s);
        return String.format("n=%d p50=%.3f ms p90=%.3f ms p99=%.3f ms max=%.3f ms", s.length, s[s.length / 2] / 1e6,
                s[(int) (s.length * 0.9)] / 1e6, s[Math.min(s.length - 1, (int) (s.length * 0.99))] / 1e6, s[s.length - 1] / 1e6);
    }
}
