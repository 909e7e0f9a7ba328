package io.cloister.internal.vmconfig;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A VM configuration (a ConfigAdmin configuration of factory PID {@value #FACTORY_PID}), checked.
 * The launcher checks a feature's VM configurations with it before it starts the framework, and
 * the vmm bundle builds its VMs from it, so both refuse the same things with the same one-line
 * message ({@link IllegalArgumentException}).
 *
 * @param memory guest RAM in bytes: a positive multiple of 4 KiB, at most {@link #maxMemory()}
 * @param vcpus 1 to {@value #MAX_VCPUS}
 * @param console stdout, file:PATH or tcp:[HOST:]PORT
 * @param initrd the initial RAM disk the kernel gets (PVH module 0, or the bzImage's ramdisk); empty: none
 * @param icount deterministic time: each retired instruction is 2^icount ns of VM time (QEMU's
 *               {@code -icount shift=N,sleep=off}); -1: VM time follows the host's clock
 */
public record VmSettings(String name, long memory, String backend, String engine, boolean smm, boolean autostart, String kernel,
        String cmdline, int vcpus, String console, String initrd, int icount) {
    public static final String FACTORY_PID = "io.cloister.vm";
    /** As many vCPUs as the VMM starts (Machine.MAX_VCPUS). */
    public static final int MAX_VCPUS = 64;
    /** The PVH start_info's command-line area is 4 KiB, NUL included (PvhLoader.MAX_CMDLINE). */
    public static final int MAX_CMDLINE = 4095;
    static final int MAX_NAME = 64;
    /** The longest icount shift, QEMU's too: 2^10 ns per instruction. */
    public static final int MAX_ICOUNT = 10;
    /** The keys of a VM configuration (VmConfig); keys with a dot (service.pid, component.name, ...) belong to the framework. */
    public static final Set<String> KEYS = Set.of("name", "memory", "backend", "engine", "smm", "autostart", "kernel", "cmdline",
            "vcpus", "console", "initrd", "icount");

    public VmSettings {
        // The values below are checked by of(); these guard direct construction.
        checkName(name);
        if (vcpus < 1 || vcpus > MAX_VCPUS) {
            throw new IllegalArgumentException("VM " + name + ": vcpus=" + vcpus + " is outside 1.." + MAX_VCPUS);
        }
        checkIcount("VM " + name + ": ", icount, vcpus, engine);
    }

    /** A VM on the host's clock. */
    public VmSettings(String name, long memory, String backend, String engine, boolean smm, boolean autostart, String kernel,
            String cmdline, int vcpus, String console, String initrd) {
        this(name, memory, backend, engine, smm, autostart, kernel, cmdline, vcpus, console, initrd, -1);
    }

    /** Whether VM time follows retired instructions (deterministic mode) instead of the host's clock. */
    public boolean deterministic() {
        return icount >= 0;
    }

    private static void checkIcount(String vm, int icount, int vcpus, String engine) {
        icountShift(vm, icount);
        if (icount >= 0 && vcpus != 1) {
            // With several vCPU threads the order in which they reach a deadline would be the host's.
            throw new IllegalArgumentException(vm + "icount (deterministic time) runs one vCPU, not vcpus=" + vcpus);
        }
        if (icount >= 0 && !engine.equals("emulator")) {
            throw new IllegalArgumentException(vm + "icount (deterministic time) needs the emulator engine; "
                    + engine + " runs on the host's clock");
        }
    }

    /** A VM without an initrd. */
    public VmSettings(String name, long memory, String backend, String engine, boolean smm, boolean autostart, String kernel,
            String cmdline, int vcpus, String console) {
        this(name, memory, backend, engine, smm, autostart, kernel, cmdline, vcpus, console, "");
    }

    /**
     * The one range check of icount, for a configuration's value (a long, checked before it is
     * narrowed to an int) and for direct construction alike: one message for both.
     */
    private static int icountShift(String vm, long icount) {
        if (icount < -1 || icount > MAX_ICOUNT) {
            throw new IllegalArgumentException(vm + "icount=" + icount + " is outside 0.." + MAX_ICOUNT + " (-1: off)");
        }
        return (int) icount;
    }

    /** Reads and checks a configuration's properties; the defaults are VmConfig's. */
    public static VmSettings of(Map<String, ?> properties) {
        Object rawName = properties.get("name");
        if (rawName == null || rawName.toString().isBlank()) {
            throw new IllegalArgumentException("a VM configuration needs a \"name\"");
        }
        String name = checkName(rawName.toString());
        String vm = "VM " + name + ": ";
        Set<String> unknown = new TreeSet<>();
        for (String key : properties.keySet()) {
            if (!KEYS.contains(key) && !key.contains(".")) {
                unknown.add(key);
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(vm + "unknown configuration key" + (unknown.size() == 1 ? " " : "s ")
                    + String.join(", ", unknown.stream().map(VmSettings::shown).toList()) + " (known: " + String.join(", ", new TreeSet<>(KEYS)) + ")");
        }
        long memory = memory(vm, string(vm, properties, "memory", "64M"));
        String cmdline = string(vm, properties, "cmdline", "");
        if (cmdline.length() > MAX_CMDLINE) {
            throw new IllegalArgumentException(vm + "cmdline is " + cmdline.length() + " characters, more than " + MAX_CMDLINE);
        }
        String console = string(vm, properties, "console", "stdout");
        checkConsole(vm, console);
        int icount = icountShift(vm, wholeNumber(vm, "icount", properties.get("icount"), -1));
        String engine = word(vm, properties, "engine", "auto");
        if (icount >= 0 && engine.equals("auto")) {
            engine = "emulator"; // the one engine that counts instructions exactly
        }
        return new VmSettings(name, memory, word(vm, properties, "backend", "plain"), engine,
                bool(vm, properties, "smm", false), bool(vm, properties, "autostart", true), string(vm, properties, "kernel", ""),
                cmdline, vcpus(vm, properties.get("vcpus")), console, string(vm, properties, "initrd", ""), icount);
    }

    private static String checkName(String name) {
        if (name == null || !name.matches("[A-Za-z0-9][A-Za-z0-9._-]{0," + (MAX_NAME - 1) + "}")) {
            throw new IllegalArgumentException("bad VM name " + shown(name) + ": 1 to " + MAX_NAME
                    + " letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        return name;
    }

    /** A size in bytes, or with a K, M or G suffix: a positive multiple of 4 KiB. */
    public static long parseSize(String text) {
        String t = text.trim().toUpperCase(Locale.ROOT);
        long unit = switch (t.isEmpty() ? ' ' : t.charAt(t.length() - 1)) {
            case 'K' -> 1L << 10;
            case 'M' -> 1L << 20;
            case 'G' -> 1L << 30;
            default -> 1;
        };
        try {
            long n;
            try {
                n = Long.parseLong(unit == 1 ? t : t.substring(0, t.length() - 1).trim());
            } catch (NumberFormatException e) {
                // Not e's message: it quotes the user's text unescaped (found by VmSettingsFuzzTest).
                throw new NumberFormatException("not a whole number with an optional K, M or G");
            }
            long bytes = Math.multiplyExact(n, unit);
            if (bytes <= 0 || (bytes & 0xfff) != 0) {
                throw new NumberFormatException("must be a positive multiple of 4K");
            }
            return bytes;
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("bad memory size " + shown(text) + " (too large); use e.g. 256M or 1G");
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad memory size " + shown(text) + " (" + e.getMessage() + "); use e.g. 256M or 1G");
        }
    }

    private static long memory(String vm, String text) {
        long bytes;
        try {
            bytes = parseSize(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(vm + e.getMessage());
        }
        long max = maxMemory();
        if (bytes > max) {
            // Like a hypervisor that will not overcommit: more than the host has could never be backed.
            throw new IllegalArgumentException(vm + "memory " + text.trim() + " is more than this host's physical memory ("
                    + gib(max) + "), the most a VM may have");
        }
        return bytes;
    }

    /**
     * The most RAM a VM may have: the host's physical memory (a container's limit inside one), as
     * the JVM sees it; Long.MAX_VALUE if it cannot tell.
     */
    public static long maxMemory() {
        try {
            // com.sun.management through reflection: inside OSGi a bundle cannot import it, but
            // java.management's platform bean implements it (container-aware since JDK 14).
            Object os = ManagementFactory.getOperatingSystemMXBean();
            Class<?> type = Class.forName("com.sun.management.OperatingSystemMXBean", false, ClassLoader.getPlatformClassLoader());
            long total = (Long) type.getMethod("getTotalMemorySize").invoke(os);
            if (total > 0) {
                return total;
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            // fall through to /proc
        }
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // no limit known
        }
        return Long.MAX_VALUE;
    }

    static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
    }

    private static String string(String vm, Map<String, ?> p, String key, String def) {
        Object v = p.get(key);
        if (v == null) {
            return def;
        }
        if (!(v instanceof String s)) {
            // Numbers are fine where a string is read (memory: 1073741824).
            if (v instanceof Number n && key.equals("memory")) {
                return n.toString();
            }
            throw new IllegalArgumentException(vm + key + " must be a string, not " + v.getClass().getSimpleName() + " " + shown(v));
        }
        return s;
    }

    private static String word(String vm, Map<String, ?> p, String key, String def) {
        String s = string(vm, p, key, def).trim();
        if (s.isEmpty()) {
            throw new IllegalArgumentException(vm + key + " is empty");
        }
        return s;
    }

    private static boolean bool(String vm, Map<String, ?> p, String key, boolean def) {
        Object v = p.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        String s = v.toString().trim().toLowerCase(Locale.ROOT);
        if (s.equals("true") || s.equals("false")) {
            return s.equals("true");
        }
        throw new IllegalArgumentException(vm + key + " " + shown(v) + " is neither true nor false");
    }

    private static int vcpus(String vm, Object v) {
        long n = wholeNumber(vm, "vcpus", v, 1);
        if (n < 1 || n > MAX_VCPUS) {
            throw new IllegalArgumentException(vm + "vcpus=" + n + " is outside 1.." + MAX_VCPUS);
        }
        return (int) n;
    }

    private static long wholeNumber(String vm, String key, Object v, long absent) {
        if (v == null) {
            return absent;
        }
        long n;
        try {
            n = switch (v) {
                case Integer i -> i;
                case Long l -> l;
                case Short s -> s;
                case Byte b -> b;
                case String s -> Long.parseLong(s.trim());
                default -> throw new NumberFormatException();
            };
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(vm + key + " " + shown(v) + " is not a whole number");
        }
        return n;
    }

    /** stdout, file:PATH (a path that names no directory) or tcp:[HOST:]PORT. */
    private static void checkConsole(String vm, String console) {
        if (console.equals("stdout")) {
            return;
        }
        if (console.startsWith("file:")) {
            String path = console.substring(5);
            if (path.isEmpty() || path.indexOf('\0') >= 0 || Files.isDirectory(Path.of(path))) {
                throw new IllegalArgumentException(vm + "console " + shown(console) + " names no file");
            }
            return;
        }
        if (console.startsWith("tcp:")) {
            tcpPort(vm, console);
            return;
        }
        throw new IllegalArgumentException(vm + "console " + shown(console) + " is none of stdout, file:PATH, tcp:HOST:PORT");
    }

    /** The host of a tcp: console, 127.0.0.1 if it names none. */
    public static String tcpHost(String console) {
        int colon = console.lastIndexOf(':');
        return colon > 4 ? console.substring(4, colon) : "127.0.0.1";
    }

    /** The port of a tcp: console. */
    public static int tcpPort(String vm, String console) {
        String port = console.substring(console.lastIndexOf(':') + 1);
        try {
            int p = Integer.parseInt(port);
            if (p >= 1 && p <= 65535) {
                return p;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new IllegalArgumentException(vm + "console " + shown(console) + " needs a port from 1 to 65535, not " + shown(port));
    }

    /**
     * A user's value as an error message shows it: quoted, on one line (control characters
     * escaped) and at most 80 characters, so that no value can forge or flood the VMM's output.
     */
    static String shown(Object value) {
        String text = value instanceof Object[] array ? java.util.Arrays.toString(array) : String.valueOf(value);
        StringBuilder b = new StringBuilder("'");
        for (int i = 0; i < text.length() && b.length() <= 80; i++) {
            char c = text.charAt(i);
            b.append(Character.isISOControl(c) || Character.getType(c) == Character.LINE_SEPARATOR
                    || Character.getType(c) == Character.PARAGRAPH_SEPARATOR ? String.format("\\u%04x", (int) c) : String.valueOf(c));
        }
        return b.length() > 80 ? b.substring(0, 77) + "...'" : b.append('\'').toString();
    }

    /** The names in a list of settings that occur more than once. */
    public static List<String> duplicates(List<VmSettings> settings) {
        Set<String> seen = new TreeSet<>();
        Set<String> twice = new TreeSet<>();
        for (VmSettings s : settings) {
            if (!seen.add(s.name())) {
                twice.add(s.name());
            }
        }
        return List.copyOf(twice);
    }
}
