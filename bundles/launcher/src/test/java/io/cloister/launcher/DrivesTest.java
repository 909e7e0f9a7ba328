package io.cloister.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --drive and --entropy: parsed and checked before anything starts, then configurations of the virtio bundle for the run's VM. */
class DrivesTest {
    @TempDir
    Path dir;

    Path image(String name) throws Exception {
        return Files.write(dir.resolve(name), new byte[4096]);
    }

    static String refused(String spec) {
        LaunchException e = assertThrows(LaunchException.class, () -> Drives.parse(spec, 0));
        assertEquals(LaunchException.CONFIG, e.exitCode());
        assertTrue(e.getMessage().startsWith("--drive " + spec + ": "), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        return e.getMessage();
    }

    @Test
    void badDrivesAreOneLineErrors() throws Exception {
        Path img = image("disk.img");
        assertTrue(refused(dir.resolve("none.img").toString()).endsWith("none.img: no such file"));
        assertTrue(refused(dir.toString()).endsWith("is a directory, not an image file"));
        assertTrue(refused(img + ",rw").contains("unknown flag 'rw'"));
        assertTrue(refused(img + ",cache=none").contains("cache 'none' is neither unsafe nor writeback"));
        assertTrue(refused(img + ",id=a/b").contains("id 'a/b' must be"));
        assertTrue(refused(img + ",id=123456789012345678901").contains("must be 1 to 20"));
        assertTrue(refused(",ro").contains("no image path"));
        assertTrue(refused(Files.write(dir.resolve("tiny.img"), new byte[100]) + ",ro").contains("less than one 512-byte sector"));
    }

    @Test
    void aFileTheDeviceCannotOpenIsRefused() throws Exception {
        assumeFalse("root".equals(System.getProperty("user.name")), "running as root: file permissions do not refuse anything");
        Path img = image("locked.img");
        Files.setPosixFilePermissions(img, PosixFilePermissions.fromString("r--r--r--"));
        assertTrue(refused(img.toString()).contains("cannot be opened for reading and writing (add ,ro for a read-only drive)"));
        assertEquals(img, Drives.parse(img + ",ro", 0).path(), "read-only is fine");
        Files.setPosixFilePermissions(img, PosixFilePermissions.fromString("---------"));
        assertTrue(refused(img + ",ro").contains("cannot be opened for reading: permission denied"));
    }

    @Test
    void drivesTakeTheFreeSlotsOfTheFirstVmThenEntropy() throws Exception {
        Drives.Drive a = Drives.parse(image("a.img") + ",id=data,cache=WriteBack", 0);
        Drives.Drive b = Drives.parse(image("b.img") + ",ro,root", 1);
        assertEquals(new Drives.Drive(dir.resolve("a.img"), false, false, "data", "Writeback"), a);
        assertEquals(new Drives.Drive(dir.resolve("b.img"), true, true, "drive1", "Unsafe"), b);
        // The feature gives VM 'demo' a drive in slot 0 already, and VM 'other' one in slot 1.
        Deployment d = new Deployment("f", dir, List.of(), List.of(
                new Deployment.Configuration("io.cloister.vm~demo", Main.VM_FACTORY_PID, "demo", Map.of("name", "demo")),
                new Deployment.Configuration("io.cloister.virtio.blk~x", Drives.BLOCK_PID, "x", Map.of("vm", "demo", "path", "/x")),
                new Deployment.Configuration("io.cloister.virtio.blk~y", Drives.BLOCK_PID, "y", Map.of("vm", "other", "slot", 1))),
                Map.of());
        List<Deployment.Configuration> out = Drives.with(d, List.of(a, b), true).configurations();
        assertEquals(6, out.size());
        assertEquals(new Deployment.Configuration("io.cloister.virtio.blk~demo-data", Drives.BLOCK_PID, "demo-data", Map.of("vm",
                "demo", "path", a.path().toString(), "readOnly", false, "root", false, "cache", "Writeback", "id", "data", "slot", 1)),
                out.get(3));
        assertEquals(2, out.get(4).values().get("slot"));
        assertEquals(true, out.get(4).values().get("root"));
        assertEquals(new Deployment.Configuration("io.cloister.virtio.rng~demo-entropy", Drives.ENTROPY_PID, "demo-entropy",
                Map.of("vm", "demo", "slot", 3)), out.get(5));
    }

    @Test
    void whatCannotBeRefusedBeforeStartIsRefusedToo() throws Exception {
        Drives.Drive a = Drives.parse(image("a.img") + ",root", 0);
        Drives.Drive b = Drives.parse(image("b.img") + ",root", 1);
        Deployment vm = new Deployment("f", dir, List.of(), List.of(new Deployment.Configuration("io.cloister.vm~vm", Main.VM_FACTORY_PID,
                "vm", Map.of("name", "vm"))), Map.of());
        assertTrue(assertThrows(LaunchException.class, () -> Drives.with(vm, List.of(a, b), false)).getMessage()
                .contains("2 drives are marked root; one at most"));
        assertTrue(assertThrows(LaunchException.class, () -> Drives.with(vm, List.of(a, Drives.parse(dir.resolve("b.img")
                + ",id=drive0", 1)), false)).getMessage().contains("two drives have the id drive0"));
        List<Drives.Drive> nine = new java.util.ArrayList<>();
        for (int i = 0; i < 9; i++) {
            nine.add(Drives.parse(image(i + ".img").toString(), i));
        }
        assertTrue(assertThrows(LaunchException.class, () -> Drives.with(vm, nine, false)).getMessage()
                .contains("8 virtio-mmio slots and all are taken"));
        Deployment none = new Deployment("f", dir, List.of(), List.of(), Map.of());
        assertTrue(assertThrows(LaunchException.class, () -> Drives.with(none, List.of(), true)).getMessage()
                .startsWith("--entropy: the feature f configures no VM"));
    }

    @Test
    void theOptionsBelongToRunAndNotToTheApi() throws Exception {
        MainTest.Result r = MainTest.run("shell", "--drive", image("a.img").toString());
        assertEquals(2, r.code());
        assertEquals("vmm: error: option --drive is an option of 'run', not of 'shell' (see vmm --help)\n", r.err());
        r = MainTest.run("features", "--entropy");
        assertEquals("vmm: error: option --entropy is an option of 'run', not of 'features' (see vmm --help)\n", r.err());
    }
}
