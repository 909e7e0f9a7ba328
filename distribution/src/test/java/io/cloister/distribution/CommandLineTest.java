package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs bin/vmm as a user would, as a separate process. */
class CommandLineTest {
    @TempDir
    Path dir;

    static void assertOneLineError(Dist.Run r, String... fragments) {
        assertEquals(2, r.code(), r.err());
        // Log lines ("[INFO] ...") may precede it; the error itself is one line.
        String[] lines = r.err().lines().filter(l -> !l.startsWith("[")).toArray(String[]::new);
        assertEquals(1, lines.length, "expected one error line on stderr, got:\n" + r.err());
        assertTrue(lines[0].startsWith("vmm: error: "), lines[0]);
        for (String f : fragments) {
            assertTrue(lines[0].contains(f), "'" + f + "' missing in: " + lines[0]);
        }
        assertFalse(r.err().contains("\tat "), "stack trace without --verbose");
    }

    @Test
    void runWithDefaultsStartsListsWiringAndStops() throws Exception {
        Dist.Run r = Dist.vmm(null, "run");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Cloister VMM wiring:"), r.out());
        assertTrue(r.out().contains("memory manager      MemoryManagerImpl"), r.out());
        assertTrue(r.out().contains("restricted memory   RestrictedMemory"), r.out());
        assertTrue(r.out().contains("backend policies    pkvm, plain, sev, snp, tdx"), r.out());
        assertTrue(r.out().contains("VM demo            RUNNING, backend plain, 0/16384 pages private"), r.out());
        // SLF4J inside OSGi reaches the console (stderr).
        assertTrue(r.err().contains("[INFO] RunCommand - VMM started"), r.err());
        assertFalse(r.err().contains("No SLF4J providers"), r.err());
    }

    @Test
    void helpListsCommands() throws Exception {
        Dist.Run r = Dist.vmm(null, "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("run") && r.out().contains("shell") && r.out().contains("--feature"));
    }

    @Test
    void runHelpComesFromTheVmm() throws Exception {
        Dist.Run r = Dist.vmm(null, "run", "--help");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Usage: vmm run"), r.out());
    }

    @Test
    void unknownRunOptionIsRefusedByTheVmm() throws Exception {
        assertOneLineError(Dist.vmm(null, "run", "--warp", "9"), "unknown option --warp");
    }

    @Test
    void featuresAreListed() throws Exception {
        Dist.Run r = Dist.vmm(null, "features");
        assertEquals(0, r.code());
        assertTrue(r.out().lines().anyMatch("default"::equals), r.out());
    }

    @Test
    void unknownFeatureIsOneLineError() throws Exception {
        assertOneLineError(Dist.vmm(null, "run", "--feature", "no-such-feature"), "no-such-feature", "not found");
    }

    @Test
    void malformedFeatureIsOneLineError() throws Exception {
        Path f = Files.writeString(dir.resolve("bad.json"), "{ \"id\": ");
        assertOneLineError(Dist.vmm(null, "run", "--feature", f.toString()), f.toString(), "malformed");
    }

    @Test
    void missingBundleIsOneLineError() throws Exception {
        Path f = Dist.feature(dir, null, "io.cloister:cloister-nothing:0.0.1");
        assertOneLineError(Dist.vmm(null, "run", "--feature", f.toString()), "io.cloister:cloister-nothing:0.0.1", "not found");
    }

    @Test
    void unresolvableBundleIsOneLineError() throws Exception {
        // The vmm bundle without the api bundle cannot resolve.
        Path f = Dist.feature(dir, null, "io.cloister:cloister-vmm:0.1.0");
        Dist.Run r = Dist.vmm(null, "run", "--feature", f.toString());
        assertOneLineError(r, "io.cloister:cloister-vmm:0.1.0", "cannot be started", "io.cloister.api");
    }

    @Test
    void verboseAddsTheStackTrace() throws Exception {
        Path f = Dist.feature(dir, null, "io.cloister:cloister-vmm:0.1.0");
        Dist.Run r = Dist.vmm(null, "--verbose", "run", "--feature", f.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("\tat "), r.err());
    }

    @Test
    void shellRunsCommandsFromTheConsole() throws Exception {
        Dist.Run r = Dist.vmm("vmm:vms\nvmm:swap demo tdx\nvmm:swap demo nope\nlb -s io.cloister\nexit 0\n", "shell");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("demo: running on backend tdx"), r.out());
        assertTrue(r.out().contains("unknown backend 'nope'"), r.out());
        assertTrue(r.out().contains("io.cloister.shell"), r.out());
    }
}
