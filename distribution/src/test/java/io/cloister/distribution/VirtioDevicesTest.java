package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.Vmm;
import io.cloister.launcher.VmmRuntime;

/**
 * Drives and entropy devices are configurations of the virtio bundle (one factory configuration
 * each, naming its VM), as Firecracker's PUT /drives/{id} and /entropy make them: the VM named gets
 * its own instance in the configured virtio-mmio slot, another VM does not.
 */
class VirtioDevicesTest {
    @TempDir
    Path dir;

    @Test
    void aDriveJoinsTheVmItNamesOnly() throws Exception {
        Path image = Files.write(dir.resolve("disk.img"), new byte[64 * 512]);
        Path console = dir.resolve("console.txt");
        Path feature = Files.writeString(dir.resolve("virtio.json"), Files.readString(Dist.DEFAULT_FEATURE)
                .replace("\"kernel\": \"guests/demo.elf\"", "\"kernel\": \"guests/rng.elf\", \"console\": \"file:" + console + "\"")
                .replace("\"io.cloister.vm~demo\"", "\"io.cloister.virtio.blk~root\": { \"vm\": \"demo\", \"path\": \"" + image
                        + "\", \"id\": \"root\" },\n    \"io.cloister.virtio.rng~other\": { \"vm\": \"other\" },\n    \"io.cloister.vm~demo\""));
        try (VmmRuntime rt = Dist.runtime(feature)) {
            VirtualMachine vm = HotSwapTest.awaitRunning(rt, "demo");
            Await.until(() -> vm.devices().stream().anyMatch(d -> d.startsWith("virtio-mmio device 2 at 0xd0000000 irq 5")), 30_000,
                    "the drive to be attached: " + vm.devices());
            assertTrue(vm.devices().stream().noneMatch(d -> d.startsWith("virtio-mmio device 4")),
                    "the entropy device of VM 'other' stays out of 'demo': " + vm.devices());
            vm.stop();
        }
    }

    /**
     * vmm run --drive/--entropy: the devices reach the VM through configurations, and the guest
     * (guests/bootinfo, which prints the command line it was given) finds them announced before
     * its own words, with the root drive's name; the DSDT side is VirtioAnnouncementTest's.
     */
    @Test
    void drivesAndEntropyFromTheCommandLineAreAnnouncedToTheGuest() throws Exception {
        Path a = Files.write(dir.resolve("a.img"), new byte[64 * 512]);
        Path b = Files.write(dir.resolve("b.img"), new byte[64 * 512]);
        Dist.Run r = Dist.vmm(null, "run", "--kernel", BootInfoTest.GUESTS.resolve("bootinfo.elf").toString(), "--drive", a + ",id=data",
                "--drive", b + ",ro,root,cache=writeback", "--entropy", "--cmdline", "console=ttyS0", "--timeout", "120");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("bootinfo: cmdline 'virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6"
                + " virtio_mmio.device=4K@0xd0002000:7 root=/dev/vdb ro console=ttyS0'\n"), r.out());
    }

    @Test
    void aDriveTheDeviceCannotUseIsRefusedBeforeStart() throws Exception {
        CommandLineTest.assertOneLineError(Dist.vmm(null, "run", "--drive", dir.resolve("none.img").toString()), "--drive ",
                "none.img: no such file");
        CommandLineTest.assertOneLineError(Dist.vmm(null, "run", "--drive", dir.toString()), "is a directory");
        Path a = Files.write(dir.resolve("a.img"), new byte[64 * 512]);
        CommandLineTest.assertOneLineError(Dist.vmm(null, "run", "--drive", a + ",cache=none"), "cache 'none' is neither");
    }

    /**
     * Firecracker's config file with drives and entropy (what PUT /drives/{id} and PUT /entropy
     * make): the devices exist before the VM is created, the root drive is /dev/vda.
     */
    @Test
    void aConfigFilesDrivesAndEntropyAreAnnouncedToTheGuest() throws Exception {
        Path data = Files.write(dir.resolve("data.img"), new byte[64 * 512]);
        Path root = Files.write(dir.resolve("root.img"), new byte[64 * 512]);
        Path vm = Files.writeString(dir.resolve("vm.json"), """
                {"boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0"},
                 "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
                 "drives": [{"drive_id": "data", "path_on_host": "%s", "is_root_device": false, "is_read_only": true},
                            {"drive_id": "rootfs", "path_on_host": "%s", "is_root_device": true, "cache_type": "Writeback"}],
                 "entropy": {}}
                """.formatted(BootInfoTest.GUESTS.resolve("bootinfo.elf"), data, root));
        Dist.Run r = Dist.vmm(null, "run", "--config-file", vm.toString(), "--timeout", "120");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("bootinfo: cmdline 'virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6"
                + " virtio_mmio.device=4K@0xd0002000:7 root=/dev/vda rw console=ttyS0'\n"), r.out() + r.err());
    }
}
