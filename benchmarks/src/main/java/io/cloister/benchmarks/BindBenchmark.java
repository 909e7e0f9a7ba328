package io.cloister.benchmarks;

import java.util.ArrayList;
import java.util.List;
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

import io.cloister.api.memory.Backing;
import io.cloister.api.memory.GuestMemory;
import io.cloister.api.memory.Pages;
import io.cloister.api.memory.SlotKind;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.Binding;
import io.cloister.api.restricted.InvalidationListener;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.memory.MemoryManagerImpl;
import io.cloister.restrictedmem.RestrictedMemory;

/**
 * Time to bind 32,000 one-page slots of one file (Linux: 1.05 - 3.7 s on this machine kind).
 * {@code way}: {@code file} binds through the provider with the page index, {@code linear} the
 * same with the list baseline, {@code memslots} adds them as memslots one by one (each add
 * publishes a new slot table), {@code batch} adds them as memslots in one batch.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3)
@Measurement(iterations = 8)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class BindBenchmark {
    static final int SLOTS = 32_000;

    @Param({"file", "linear", "memslots", "batch"})
    public String way;

    RestrictedFile file;
    GuestMemory memory;
    List<Binding> bindings;

    @Setup(Level.Invocation)
    public void setUp() {
        RestrictedMemory provider = way.equals("linear") ? RestrictedMemory.withLinearIndexForBaseline() : new RestrictedMemory();
        file = provider.create("bench", SLOTS * Pages.SIZE, PageState.PRIVATE);
        memory = new MemoryManagerImpl().create("bench").memory();
        bindings = new ArrayList<>(SLOTS);
    }

    @TearDown(Level.Invocation)
    public void tearDown() {
        for (Binding b : bindings) {
            b.unbind();
        }
        memory.close();
        file.close();
    }

    @Benchmark
    public int bind32000() {
        switch (way) {
            case "file", "linear" -> {
                for (int i = 0; i < SLOTS; i++) {
                    bindings.add(file.bind("bench", i, i * Pages.SIZE, 2L * i * Pages.SIZE, Pages.SIZE, InvalidationListener.NONE));
                }
            }
            case "memslots" -> {
                for (int i = 0; i < SLOTS; i++) {
                    memory.add(spec(i));
                }
            }
            default -> {
                List<SlotSpec> specs = new ArrayList<>(SLOTS);
                for (int i = 0; i < SLOTS; i++) {
                    specs.add(spec(i));
                }
                memory.addAll(specs);
            }
        }
        return bindings.size() + memory.table().slots().size();
    }

    private SlotSpec spec(int i) {
        return new SlotSpec(2L * i * Pages.SIZE, Pages.SIZE, SlotKind.RAM, false, new Backing.Restricted(file, i * Pages.SIZE));
    }
}
