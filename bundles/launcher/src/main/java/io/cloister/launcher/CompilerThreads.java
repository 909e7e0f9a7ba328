package io.cloister.launcher;

import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Puts the JVM's C2 compiler threads at the host's lowest CPU priority (nice 19), so that on a
 * host with few cores a vCPU that is ready to run gets a core before them. The emulator compiles
 * guest code into classes while it runs; on 2 cores the compiler threads, the vCPU and the block
 * compiler were often runnable at once, and the vCPU waited 0.8-1.2 s for a core during a Linux
 * boot. C2 loses nothing it needs: it still has the core the vCPU does not use. C1 keeps its
 * priority: its compiles are short, and each takes a new block out of the JVM's bytecode
 * interpreter, which is the vCPU's own time (the boot 0.984 of the time with C1 lowered too).
 *
 * <p>HotSpot can lower compiler threads itself (-XX:ThreadPriorityPolicy=1
 * -XX:CompilerThreadPriority=19, C1's too), but it warns about the policy on every start unless it
 * runs as root, though lowering a priority needs no privilege. Compiler threads the JVM adds later
 * are made by compiler threads, and on Linux a thread starts at its maker's priority.
 */
final class CompilerThreads {
    private CompilerThreads() {
    }

    /** The lowest priority, as nice(1) counts it. */
    static final int LOWEST = 19;

    /** The name HotSpot gives its C2 threads, as the kernel keeps it (15 characters). */
    static final String C2 = "C2 CompilerThre";

    /** The name of its C1 threads, which keep their priority. */
    static final String C1 = "C1 CompilerThre";

    /**
     * Lowers every C2 compiler thread of this JVM; returns the thread ids lowered. Nothing where there
     * is no /proc/self/task or no setpriority (not Linux): the priority is then the host's business.
     */
    static List<Integer> lower() {
        List<Integer> done = new ArrayList<>();
        MethodHandle setpriority = setpriority();
        if (setpriority == null) {
            return done;
        }
        for (int tid : threadsNamed(C2)) {
            try {
                // PRIO_PROCESS (0) with a thread id: on Linux, that thread alone.
                if ((int) setpriority.invokeExact(0, tid, LOWEST) == 0) {
                    done.add(tid);
                }
            } catch (Throwable e) {
                return done; // the call itself is broken: no thread will do better
            }
        }
        return done;
    }

    /** The ids of this JVM's threads the kernel names {@code name} (C2, C1), from /proc; none where it cannot be read. */
    static List<Integer> threadsNamed(String name) {
        List<Integer> tids = new ArrayList<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path t : (Iterable<Path>) tasks::iterator) {
                String comm;
                try {
                    comm = Files.readString(t.resolve("comm")).strip();
                } catch (IOException e) {
                    continue; // the thread ended meanwhile
                }
                if (comm.equals(name)) {
                    tids.add(Integer.parseInt(t.getFileName().toString()));
                }
            }
        } catch (IOException | UnsupportedOperationException e) {
            // not Linux
        }
        return tids;
    }

    private static MethodHandle setpriority() {
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("setpriority").map(a -> linker.downcallHandle(a,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT)))
                    .orElse(null);
        } catch (RuntimeException e) {
            return null; // no native access
        }
    }
}
