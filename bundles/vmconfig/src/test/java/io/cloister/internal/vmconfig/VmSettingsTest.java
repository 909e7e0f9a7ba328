package io.cloister.internal.vmconfig;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

class VmSettingsTest {
    static VmSettings of(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return VmSettings.of(m);
    }

    static String refused(Object... kv) {
        return assertThrows(IllegalArgumentException.class, () -> of(kv)).getMessage();
    }

    @Test
    void defaultsAreVmConfigs() {
        VmSettings s = of("name", "demo");
        assertEquals(new VmSettings("demo", 64 << 20, "plain", "auto", false, true, "", "", 1, "stdout"), s);
    }

    @Test
    void typedAndStringValuesAreRead() {
        // A feature's "vcpus:Integer": 2 arrives as an Integer, "vcpus": 2 as a Long, a string from the command line.
        assertEquals(2, of("name", "a", "vcpus", 2).vcpus());
        assertEquals(3, of("name", "a", "vcpus", 3L).vcpus());
        assertEquals(4, of("name", "a", "vcpus", " 4").vcpus());
        assertEquals(1L << 30, of("name", "a", "memory", "1G").memory());
        assertEquals(1L << 26, of("name", "a", "memory", 1L << 26).memory());
        assertTrue(of("name", "a", "smm", "true", "autostart", false).smm());
        assertFalse(of("name", "a", "autostart", "False").autostart());
        assertEquals("tcp:localhost:4555", of("name", "a", "console", "tcp:localhost:4555").console());
        // The framework's own keys (service.pid, component.name) are not the VM's.
        assertEquals("a", of("name", "a", "service.pid", "io.cloister.vm~a", "component.id", 7L).name());
    }

    @Test
    void icountIsDeterministicTimeOnTheEmulatorWithOneVcpu() {
        assertFalse(of("name", "a").deterministic());
        assertEquals(-1, of("name", "a").icount());
        VmSettings s = of("name", "a", "icount", "3");
        assertTrue(s.deterministic());
        assertEquals(3, s.icount());
        assertEquals("emulator", s.engine(), "auto means the one engine that counts instructions");
        assertEquals("VM a: icount=11 is outside 0..10 (-1: off)", refused("name", "a", "icount", 11));
        // Checked before it is narrowed to an int (2^32 would wrap to 0), and with the same message where a VM is built directly.
        assertEquals("VM a: icount=4294967296 is outside 0..10 (-1: off)", refused("name", "a", "icount", 1L << 32));
        assertEquals("VM a: icount=-2 is outside 0..10 (-1: off)", assertThrows(IllegalArgumentException.class,
                () -> new VmSettings("a", 64 << 20, "plain", "emulator", false, true, "", "", 1, "stdout", "", -2)).getMessage());
        assertEquals("VM a: icount 'x' is not a whole number", refused("name", "a", "icount", "x"));
        assertEquals("VM a: icount (deterministic time) runs one vCPU, not vcpus=2", refused("name", "a", "icount", 0, "vcpus", 2));
        assertEquals("VM a: icount (deterministic time) needs the emulator engine; kvm runs on the host's clock",
                refused("name", "a", "icount", 0, "engine", "kvm"));
    }

    @Test
    void eachBadValueIsOneLine() {
        assertEquals("a VM configuration needs a \"name\"", refused("memory", "64M"));
        assertEquals("a VM configuration needs a \"name\"", refused("name", " "));
        assertTrue(refused("name", "a/b").startsWith("bad VM name 'a/b'"));
        assertEquals("VM a: vcpus 'many' is not a whole number", refused("name", "a", "vcpus", "many"));
        assertEquals("VM a: vcpus '2.5' is not a whole number", refused("name", "a", "vcpus", 2.5));
        assertEquals("VM a: vcpus=0 is outside 1..64", refused("name", "a", "vcpus", 0));
        assertEquals("VM a: vcpus=65 is outside 1..64", refused("name", "a", "vcpus", "65"));
        assertTrue(refused("name", "a", "memory", "12X").startsWith("VM a: bad memory size '12X'"));
        assertTrue(refused("name", "a", "memory", "4097").contains("multiple of 4K"));
        assertEquals("VM a: smm 'yes' is neither true nor false", refused("name", "a", "smm", "yes"));
        assertEquals("VM a: backend is empty", refused("name", "a", "backend", ""));
        assertEquals("VM a: kernel must be a string, not Long '5'", refused("name", "a", "kernel", 5L));
        assertEquals("VM a: unknown configuration key 'vcpu' (known: autostart, backend, cmdline, console, engine, icount, initrd, kernel, "
                + "memory, name, smm, vcpus)", refused("name", "a", "vcpu", 2));
        assertEquals("VM a: console 'serial' is none of stdout, file:PATH, tcp:HOST:PORT", refused("name", "a", "console", "serial"));
        assertEquals("VM a: console 'tcp:host:99999' needs a port from 1 to 65535, not '99999'",
                refused("name", "a", "console", "tcp:host:99999"));
        assertEquals("VM a: console 'file:' names no file", refused("name", "a", "console", "file:"));
        assertEquals("VM a: cmdline is 4096 characters, more than 4095", refused("name", "a", "cmdline", "x".repeat(4096)));
        assertEquals("VM a: initrd must be a string, not Integer '3'", refused("name", "a", "initrd", 3));
    }

    @Test
    void theInitrdIsAPathOrNothing() {
        assertEquals("", VmSettings.of(java.util.Map.of("name", "a")).initrd());
        assertEquals("/boot/initrd.img", VmSettings.of(java.util.Map.of("name", "a", "initrd", "/boot/initrd.img")).initrd());
    }

    /** A value cannot forge lines of the VMM's output or flood it (found by VmSettingsFuzzTest). */
    @Test
    void valuesInMessagesAreEscapedAndShort() {
        assertEquals("VM a: autostart 'no\\u000avmm: fake' is neither true nor false",
                refused("name", "a", "autostart", "no\nvmm: fake"));
        assertEquals("VM a: console 'file:\\u0000' names no file", refused("name", "a", "console", "file:\0"));
        assertEquals("VM a: bad memory size '1\\u000a2' (not a whole number with an optional K, M or G); use e.g. 256M or 1G",
                refused("name", "a", "memory", "1\n2"));
        String m = refused("name", "a", "smm", "y".repeat(500));
        assertTrue(m.length() < 140 && m.contains("yyy...'"), m);
    }

    /** More RAM than the host has can never be backed; the limit is the host's physical memory. */
    @Test
    void memoryIsLimitedByTheHost() {
        long max = VmSettings.maxMemory();
        assertTrue(max > 64 << 20 && max < Long.MAX_VALUE, "the host's memory is known: " + max);
        long over = (max & ~((1L << 30) - 1)) + (1L << 30); // the next whole GiB above it
        String msg = refused("name", "a", "memory", (over >> 30) + "G");
        assertTrue(msg.startsWith("VM a: memory " + (over >> 30) + "G is more than this host's physical memory ("), msg);
        assertEquals(max & ~0xfffL, of("name", "a", "memory", Long.toString(max & ~0xfffL)).memory());
        assertTrue(refused("name", "a", "memory", "9000000000G").contains("bad memory size"), "overflow is a bad size");
    }

    @Test
    void duplicateNamesAreFound() {
        assertEquals(List.of("x"), VmSettings.duplicates(List.of(of("name", "x"), of("name", "y"), of("name", "x"))));
        assertEquals(List.of(), VmSettings.duplicates(List.of(of("name", "x"), of("name", "y"))));
    }
}
