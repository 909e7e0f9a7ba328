package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Locale;

import org.junit.jupiter.api.Test;

/**
 * Debian's unmodified kernel on two vCPUs of the software engine: the kernel starts its second CPU
 * itself, the standard way (INIT and start-up IPIs to its real-mode trampoline, which runs 16-bit
 * code, enters protected and long mode), so the self-test's {@code nproc} says 2. Uses the cached
 * kernel and initramfs of guests/linux/fetch and LinuxBootTest's helpers.
 */
class LinuxSmpBootTest {
    /**
     * A bound for a broken boot, not a performance goal: on a 2-core host at a load of 15 (a full
     * build beside it) the two-vCPU boot took 178 s to its poweroff.
     */
    static final long TIMEOUT_SECONDS = 600;

    @Test
    void cloisterBootsLinuxOnTwoVcpus() throws Exception {
        LinuxBootTest.assumeReady("bin/vmm", java.nio.file.Files.isExecutable(Dist.VMM) ? Dist.VMM : null);
        // no_timer_check: as LinuxBootTest (the I/O APIC timer check races with the emulator's speed).
        List<String> cmd = List.of(Dist.VMM.toString(), "run", "--kernel", LinuxGuest.VMLINUX.toString(),
                "--initrd", LinuxGuest.INITRAMFS.toString(), "--memory", "256M", "--vcpus", "2",
                "--cmdline", LinuxBootTest.CMDLINE + " no_timer_check");
        LinuxGuest.Passed run = LinuxGuest.bootPassingSelfTest(cmd, TIMEOUT_SECONDS, 2);
        assertTrue(run.boot().err().contains("2 vCPUs"), run.boot().err());
        System.out.println(String.format(Locale.ROOT,
                "LinuxSmpBootTest: Cloister booted %s on 2 vCPUs to /init in %.2f s, self-test done and powered off in %.2f s wall",
                LinuxGuest.versions().getProperty("kernel-release"), run.secondsToInit(), run.boot().wallNanos() / 1e9));
    }
}
