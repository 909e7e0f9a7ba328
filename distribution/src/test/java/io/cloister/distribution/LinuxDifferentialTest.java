package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.junit.jupiter.api.Test;

/**
 * The QEMU differential of issue 16: the same kernel and initramfs, with the init's deterministic
 * self-test (cloister.selftest=deterministic in guests/linux/init: only lines that depend on
 * neither timing nor randomness nor the VMM), print the same "det: " lines under QEMU TCG microvm
 * and under Cloister. A wrong result of the engine in user space or in the kernel's work for it
 * (arithmetic, compression, hashing, fork, pipes, signals, page faults) shows as a differing line.
 *
 * The Cloister boot also carries the uniprocessor, virtual-wire variant of the issue: its command
 * line has acpi=off, so the kernel (built without MP-table support) finds no local APIC, keeps
 * the 8259 in PIC mode and takes the PIT through the BSP's LINT0 ExtINT wire; "det: slept" says
 * the timer ticks. QEMU's microvm does not boot without ACPI (it has no MP table either and
 * stalls), so its boot keeps ACPI; nothing the deterministic lines show depends on it.
 */
class LinuxDifferentialTest {
    static final String MODE = "cloister.selftest=deterministic";
    private static final String PREFIX = "det: ";

    static void assumeReady(String tool, Path toolPath) throws Exception {
        String why = LinuxGuest.staleInit();
        if (why == null && toolPath == null) {
            why = tool + " is not installed";
        }
        if (why != null) {
            System.out.println("LinuxDifferentialTest skipped: " + why);
        }
        assumeTrue(why == null, why);
    }

    static List<String> det(LinuxGuest.Boot boot) {
        return boot.lines().stream().map(LinuxGuest.Line::text).filter(t -> t.startsWith(PREFIX)).toList();
    }

    @Test
    void qemuAndCloisterWithAcpiOffPrintTheSameLines() throws Exception {
        Path qemu = LinuxGuest.onPath("qemu-system-x86_64");
        assumeReady("qemu-system-x86_64", qemu);
        assumeReady("bin/vmm", Files.isExecutable(Dist.VMM) ? Dist.VMM : null);
        String cmdline = LinuxBootTest.CMDLINE + " " + MODE;
        // As in LinuxBootTest's reference boot: the TSC frequency spares QEMU the PIT calibration.
        long tscKhz = LinuxGuest.hostTscKhz();
        List<String> q = new ArrayList<>(List.of(qemu.toString(), "-M", "microvm,accel=tcg", "-cpu", "max", "-m", "256",
                "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
                "-kernel", LinuxGuest.VMLINUX.toString(), "-initrd", LinuxGuest.INITRAMFS.toString(),
                "-append", cmdline + (tscKhz > 0 ? " tsc_early_khz=" + tscKhz : ""), "-no-reboot"));
        LinuxGuest.Boot reference = LinuxGuest.boot(q, LinuxBootTest.TIMEOUT_SECONDS);
        List<String> expected = det(reference);
        String kernel = LinuxGuest.versions().getProperty("kernel-release");
        // The reference itself must be whole: from start to done, on the kernel the fetch recorded.
        assertEquals(PREFIX + "start", expected.isEmpty() ? null : expected.getFirst(), "QEMU:\n" + reference.console());
        assertEquals(PREFIX + "done", expected.getLast(), "QEMU:\n" + reference.console());
        assertEquals(PREFIX + "uname-r " + kernel, expected.get(1), "QEMU:\n" + reference.console());

        List<String> c = List.of(Dist.VMM.toString(), "run", "--kernel", LinuxGuest.VMLINUX.toString(),
                "--initrd", LinuxGuest.INITRAMFS.toString(), "--memory", "256M", "--cmdline", cmdline + " acpi=off");
        long start = System.nanoTime();
        LinuxGuest.Boot boot = LinuxGuest.boot(c, LinuxBootTest.TIMEOUT_SECONDS);
        assertEquals(String.join("\n", expected), String.join("\n", det(boot)),
                "Cloister (acpi=off) against QEMU TCG microvm, the deterministic self-test's lines\n--- console ---\n"
                        + boot.console() + "--- stderr ---\n" + boot.err());
        // Without ACPI the kernel has no way to power off: poweroff becomes halt ("System halted",
        // HLT with interrupts off), which ends vmm run with status 0 too.
        assertEquals(0, boot.code(), "the halted guest ends vmm run with status 0\n" + boot.console() + boot.err());
        System.out.println(String.format(Locale.ROOT,
                "LinuxDifferentialTest: %d deterministic lines equal; QEMU %.2f s, Cloister with acpi=off %.2f s to det: start, %.2f s wall",
                expected.size(), reference.wallNanos() / 1e9, boot.secondsTo(PREFIX + "start", start), boot.wallNanos() / 1e9));
    }
}
