package io.cloister.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

class MainTest {
    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void helpListsCommandsAndOptions() {
        Result r = run("--help");
        assertEquals(0, r.code());
        for (String word : new String[] {"run", "shell", "features", "--feature", "--verbose"}) {
            assertTrue(r.out().contains(word), word);
        }
    }

    @Test
    void noCommandPrintsUsageAndFails() {
        Result r = run();
        assertEquals(2, r.code());
        assertTrue(r.out().startsWith("Usage: vmm"));
    }

    @Test
    void unknownCommandIsOneLineError() {
        Result r = run("frobnicate");
        assertEquals(2, r.code());
        assertEquals("vmm: error: unknown command 'frobnicate' (see vmm --help)\n", r.err());
    }

    @Test
    void unknownOptionIsOneLineError() {
        Result r = run("shell", "--bogus");
        assertEquals(2, r.code());
        assertEquals("vmm: error: unknown option --bogus (see vmm --help)\n", r.err());
    }

    @Test
    void optionWithoutValueIsRefused() {
        Result r = run("run", "--feature");
        assertEquals(2, r.code());
        assertEquals("vmm: error: option --feature needs a value\n", r.err());
    }
}
