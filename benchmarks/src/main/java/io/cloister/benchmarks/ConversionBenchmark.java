package io.cloister.benchmarks;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import io.cloister.api.memory.Pages;
import io.cloister.api.restricted.Binding;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.InvalidationListener;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.restrictedmem.RestrictedMemory;

/**
 * The seed's scaling question: one file bound by N one-page slots, one page converted (or
 * punched). {@code index=page} is Cloister's index by file offset; {@code index=linear} walks
 * every binding (the memfd_restricted v10 notifier list) as the baseline in the same run.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class ConversionBenchmark {
    @Param({"1", "100", "10000", "32000"})
    public int slots;

    @Param({"page", "linear"})
    public String index;

    RestrictedFile file;
    Binding[] bindings;
    long target;
    boolean toPrivate = true;
    final MemorySegment scratch = Arena.ofAuto().allocate(8);
    /** Invalidations seen, so the listener's work cannot be optimised away. */
    public long invalidations;

    @Setup(Level.Trial)
    public void setUp() {
        RestrictedMemory provider = index.equals("page") ? new RestrictedMemory() : RestrictedMemory.withLinearIndexForBaseline();
        file = provider.create("bench", slots * Pages.SIZE, PageState.PRIVATE);
        InvalidationListener listener = (b, gpa, len, change) -> invalidations += len;
        bindings = new Binding[slots];
        for (int i = 0; i < slots; i++) {
            // Slots spread over guest-physical space with holes, as a VMM with many slots would.
            bindings[i] = file.bind("bench", i, i * Pages.SIZE, 2L * i * Pages.SIZE, Pages.SIZE, listener);
        }
        target = (slots / 2) * Pages.SIZE; // a page in the middle of the bindings
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (Binding b : bindings) {
            b.unbind();
        }
        file.close();
    }

    @Benchmark
    public long convertOnePage() {
        toPrivate = !toPrivate;
        file.convert(target, Pages.SIZE, toPrivate ? PageState.PRIVATE : PageState.SHARED, ContentRule.DESTROY);
        return invalidations;
    }

    /** The guest writes the page, then converts it with its content destroyed (a 4 KiB zeroing). */
    @Benchmark
    public long writeThenConvert() {
        Binding owner = bindings[slots / 2];
        owner.guest().write(owner.gpa(), scratch, toPrivate ? PageState.PRIVATE : PageState.SHARED);
        toPrivate = !toPrivate;
        file.convert(target, Pages.SIZE, toPrivate ? PageState.PRIVATE : PageState.SHARED, ContentRule.DESTROY);
        return invalidations;
    }

    @Benchmark
    public long punchOnePage() {
        file.punch(target, Pages.SIZE);
        return invalidations;
    }
}
