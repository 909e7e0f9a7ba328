package io.cloister.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

/** The JIT's C2 compiler threads end at nice 19, as the kernel reports it, and no other thread moves (C1's included). */
class CompilerThreadsTest {
    @Test
    void theC2CompilerThreadsAndOnlyThemGoToTheLowestPriority() throws Exception {
        assumeTrue(Files.isDirectory(Path.of("/proc/self/task")), "no /proc/self/task (not Linux): nothing to lower");
        List<Integer> compilers = CompilerThreads.threadsNamed(CompilerThreads.C2);
        assertFalse(compilers.isEmpty(), "no C2 compiler thread found in /proc/self/task");
        int self = Integer.parseInt(Files.readString(Path.of("/proc/thread-self/stat")).split(" ", 2)[0]);
        int before = nice(self);
        List<Integer> c1 = CompilerThreads.threadsNamed(CompilerThreads.C1);
        List<Integer> c1Before = new java.util.ArrayList<>();
        for (int tid : c1) {
            c1Before.add(nice(tid));
        }

        List<Integer> lowered = CompilerThreads.lower();

        assertEquals(compilers.stream().sorted().toList(), lowered.stream().sorted().toList());
        for (int tid : lowered) {
            assertEquals(CompilerThreads.LOWEST, nice(tid), "thread " + tid);
        }
        assertEquals(before, nice(self), "the calling thread's own priority");
        for (int i = 0; i < c1.size(); i++) {
            assertEquals(c1Before.get(i), nice(c1.get(i)), "C1 thread " + c1.get(i));
        }
    }

    /** The nice value of a thread of this process: field 19 of its stat, counted after the name's closing parenthesis. */
    private static int nice(int tid) throws Exception {
        String stat = Files.readString(Path.of("/proc/self/task/" + tid + "/stat"));
        String[] after = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Integer.parseInt(after[16]);
    }
}
