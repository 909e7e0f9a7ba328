package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad or hostile input to bin/vmm: each is refused in one line, or bounded, and never hangs the VMM. */
class HostileInputTest {
    @TempDir
    Path dir;

    /** The default feature with guests/rng, which runs until stopped (it waits for a device that never comes). */
    Path busyFeature() throws Exception {
        return Files.writeString(dir.resolve("busy.json"), Files.readString(Dist.DEFAULT_FEATURE)
                .replace("\"kernel\": \"guests/demo.elf\"", "\"kernel\": \"guests/rng.elf\""));
    }

    /** vmm:uninstall takes device bundles only: removing SCR would stop the VMM's components under the guest. */
    @Test
    void onlyDeviceBundlesCanBeUninstalled() throws Exception {
        Dist.Run r = Dist.vmm("vmm:uninstall org.apache.felix.scr\nvmm:uninstall io.cloister.backend.plain\nvmm:vms\nvmm:install "
                + DeviceHotplugTest.EXAMPLE + "\nvmm:uninstall org.example.cloister.rng\nexit 0\n",
                "shell", "--feature", busyFeature().toString());
        assertTrue(r.out().contains("org.apache.felix.scr is one of the VMM's own bundles"), r.out());
        assertTrue(r.out().contains("io.cloister.backend.plain is one of the VMM's own bundles"), r.out());
        assertTrue(r.out().contains("uninstalled org.example.cloister.rng"), r.out());
        assertTrue(r.out().matches("(?s).*demo +RUNNING +plain.*"), r.out());
        assertFalse(r.out().contains("CommandNotFoundException"), r.out());
    }
}
