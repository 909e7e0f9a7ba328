package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Firecracker's SendCtrlAltDel end to end: bin/vmm boots the Linux test guest (its busybox init
 * with a shell, cloister.shell) through the API; Ctrl-Alt-Del goes through the i8042 into atkbd,
 * the kernel hands it to init (busybox init disables the kernel's own reboot on it), init's
 * ::ctrlaltdel action reboots, the kernel resets the platform, and with the default --on-reset
 * exit the process ends with the reset status (3). One Linux boot: 20 - 60 s on a loaded machine.
 */
class ApiCtrlAltDelTest {
    /** The VMM's exit status for a guest that reset the platform (--on-reset exit). */
    static final int RESET_STATUS = 3;

    @TempDir
    Path dir;

    @Test
    void linuxRebootsOnCtrlAltDel() throws Exception {
        String missing = LinuxGuest.missing();
        Assumptions.assumeTrue(missing == null, missing);
        ApiTest.needsCurl();
        Path socket = dir.resolve("fc.sock");
        Path out = dir.resolve("out.txt");
        Path err = dir.resolve("err.txt");
        Process vmm = new ProcessBuilder(Dist.VMM.toString(), "run", "--api-sock", socket.toString()).redirectOutput(out.toFile())
                .redirectError(err.toFile()).start();
        try {
            Await.until(() -> ApiTest.answers(socket) || !vmm.isAlive(), 60_000, "the API socket");
            assertTrue(vmm.isAlive(), () -> ApiTest.read(err));
            ApiTest.assertAnswer(ApiTest.curl(socket, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), 400,
                    "before starting");
            ApiTest.assertAnswer(ApiTest.curl(socket, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 256}"), 204);
            ApiTest.assertAnswer(ApiTest.curl(socket, "PUT", "/boot-source", "{\"kernel_image_path\": \"" + LinuxGuest.VMLINUX
                    + "\", \"initrd_path\": \"" + LinuxGuest.INITRAMFS + "\", \"boot_args\": \"console=ttyS0 panic=-1 quiet"
                    + " cloister.shell\"}"), 204);
            ApiTest.assertAnswer(ApiTest.curl(socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
            // The shell's prompt: busybox init runs, and has told the kernel to pass Ctrl-Alt-Del on to it.
            Await.until(() -> ApiTest.read(out).contains("/ # ") || !vmm.isAlive(), 240_000, "the guest's shell prompt");
            assertTrue(vmm.isAlive(), () -> ApiTest.read(out) + ApiTest.read(err));
            ApiTest.assertAnswer(ApiTest.curl(socket, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), 204);
            assertTrue(vmm.waitFor(120, TimeUnit.SECONDS), () -> "the guest did not reboot:\n" + ApiTest.read(out));
            String console = ApiTest.read(out);
            assertEquals(RESET_STATUS, vmm.exitValue(), console + ApiTest.read(err));
            // busybox init's reboot, not the kernel's own: init reacted to the keys.
            assertTrue(console.contains("Requesting system reboot"), console);
            assertTrue(ApiTest.read(err).contains("reset the platform"), ApiTest.read(err));
            assertFalse(Files.exists(socket));
        } finally {
            vmm.destroyForcibly();
        }
    }
}
