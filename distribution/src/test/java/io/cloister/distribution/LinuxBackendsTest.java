package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * An unmodified, non-CoCo-aware Linux kernel under the confidential backends (issue 16). pKVM's
 * semantics let it boot (its pages are private with their content kept, and a guest that never
 * shares a page runs unaware): LinuxBootTest boots the bzImage under pkvm. SEV, SNP and TDX need
 * firmware and a guest that takes part before the kernel's first instruction, so vmm run refuses
 * the VM before it runs: status non-zero, one line on stderr saying why, nothing from the kernel
 * (bundles/vmm CocoLinux). The refusal does not depend on the image format: vmlinux (PVH) and the
 * bzImage.
 */
class LinuxBackendsTest {
    @ParameterizedTest
    @CsvSource({"sev, vmlinux", "snp, vmlinux", "tdx, vmlinux", "sev, bzImage"})
    void sevSnpAndTdxRefuseTheKernelInOneLineBeforeItRuns(String backend, String image) throws Exception {
        LinuxBootTest.assumeReady("bin/vmm", Files.isExecutable(Dist.VMM) ? Dist.VMM : null);
        Path kernel = image.equals("vmlinux") ? LinuxGuest.VMLINUX : LinuxGuest.BZIMAGE;
        // --timeout: a refusal that did not come would end here instead of in the boot's bound.
        List<String> cmd = List.of(Dist.VMM.toString(), "run", "--backend", backend, "--timeout", "120", "--kernel",
                kernel.toString(), "--initrd", LinuxGuest.INITRAMFS.toString(), "--memory", "256M", "--cmdline",
                LinuxBootTest.CMDLINE + " no_timer_check");
        LinuxGuest.Boot boot = LinuxGuest.boot(cmd, LinuxBootTest.TIMEOUT_SECONDS);
        String context = "\n--- console ---\n" + boot.console() + "--- stderr ---\n" + boot.err();
        assertNotEquals(0, boot.code(), "status" + context);
        assertNotEquals(124, boot.code(), "refused before the timeout, not ended by it" + context);
        assertEquals("", boot.console(), "the kernel never ran" + context);
        List<String> errors = boot.err().lines().filter(l -> !l.startsWith("[")).toList(); // [INFO] log lines aside
        assertEquals(1, errors.size(), "one line" + context);
        assertTrue(errors.getFirst().contains("backend " + backend + " cannot boot the Linux kernel "), errors.getFirst());
        assertTrue(errors.getFirst().contains(kernel.getFileName().toString()), "names the image: " + errors.getFirst());
        assertTrue(errors.getFirst().contains("firmware"), "says why: " + errors.getFirst());
    }
}
