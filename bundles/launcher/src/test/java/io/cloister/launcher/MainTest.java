package io.cloister.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

    @Test
    void runHelpNamesTheInitrdAndBothKernelKinds() {
        Result r = run("run", "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("[--initrd FILE]") && r.out().contains("Linux bzImage") && r.out().contains("PVH ELF"), r.out());
    }

    /** The guest images of a VM, checked before anything starts: kernel kind, initrd file and size. */
    @Test
    void kernelKindAndInitrdAreCheckedBeforeStart(@TempDir Path dir) throws Exception {
        Path elf = Files.write(dir.resolve("k.elf"), new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0});
        byte[] bz = new byte[0x400];
        bz[0x202] = 'H';
        bz[0x203] = 'd';
        bz[0x204] = 'r';
        bz[0x205] = 'S';
        Path bzImage = Files.write(dir.resolve("vmlinuz"), bz);
        Path text = Files.writeString(dir.resolve("notes.txt"), "not a kernel at all\n".repeat(100));
        Path initrd = Files.write(dir.resolve("initrd.gz"), new byte[8192]);
        Path bigInitrd = Files.write(dir.resolve("big.gz"), new byte[3 << 20]);

        assertEquals(1, checkVms(Map.of("kernel", elf.toString())).size());
        assertEquals(1, checkVms(Map.of("kernel", bzImage.toString(), "initrd", initrd.toString())).size());
        LaunchException e = assertThrows(LaunchException.class, () -> checkVms(Map.of("kernel", text.toString())));
        assertEquals("VM vm: guest image " + text + " is neither an ELF kernel with a PVH entry note nor a Linux bzImage (no ELF"
                + " magic, no \"HdrS\" at offset 0x202)", e.getMessage());
        e = assertThrows(LaunchException.class, () -> checkVms(Map.of("kernel", elf.toString(), "initrd", dir.resolve("none").toString())));
        assertEquals("VM vm: initrd " + dir.resolve("none") + " cannot be read: no such file", e.getMessage());
        e = assertThrows(LaunchException.class, () -> checkVms(Map.of("kernel", elf.toString(), "initrd", bigInitrd.toString())));
        assertEquals("VM vm: initrd " + bigInitrd + " is 3145728 bytes, more than the guest's RAM (2097152 bytes): it cannot be loaded",
                e.getMessage());
        e = assertThrows(LaunchException.class, () -> checkVms(Map.of("kernel", elf.toString(), "initrd", dir.toString())));
        assertEquals("VM vm: initrd " + dir + " is not a regular file (a directory)", e.getMessage());
        e = assertThrows(LaunchException.class, () -> checkVms(Map.of("initrd", initrd.toString())));
        assertEquals("VM vm: an initrd without a kernel", e.getMessage());
        assertEquals(2, e.exitCode());
    }

    /** checkVms over one VM "vm" of 2 MiB with these properties. */
    static List<io.cloister.internal.vmconfig.VmSettings> checkVms(Map<String, Object> props) throws LaunchException {
        Map<String, Object> values = new LinkedHashMap<>(props);
        values.put("name", "vm");
        values.put("memory", "2M");
        Deployment d = new Deployment("test", Path.of("test.json"), List.of(), List.of(new Deployment.Configuration(
                "io.cloister.vm~vm", "io.cloister.vm", "vm", values)), Map.of());
        return Main.checkVms(d, null);
    }
}
