package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The Linux test guest that guests/linux/fetch builds (an unmodified Debian kernel, busybox and
 * the self-test /init in guests/linux/init), a way to boot it as a process with a hard timeout,
 * and the check of the self-test's output, line by line, that every Linux boot test shares.
 */
final class LinuxGuest {
    static final Path CACHE = Path.of(System.getProperty("cloister.linux.cache", "../guests/linux/cache")).toAbsolutePath().normalize();
    static final Path VMLINUX = CACHE.resolve("vmlinux");
    static final Path BZIMAGE = CACHE.resolve("bzImage");
    static final Path INITRAMFS = CACHE.resolve("initramfs.gz");
    static final Path VERSIONS = CACHE.resolve("versions");

    /** The self-test's keys in the order guests/linux/init prints them. */
    static final List<String> KEYS = List.of("start", "uname-r", "nproc", "cpu-flags", "sleep-begin", "sleep-end",
            "sleep-guest-cs", "date", "epoch", "random-bytes", "sha256-1", "sha256-2", "sha256-known", "sort-n", "sort",
            "awk", "loop", "irq-timer", "irq-serial", "done");

    /** Flags every x86-64 CPU has (the 64-bit baseline busybox and the kernel need). */
    static final Set<String> BASELINE_FLAGS = Set.of("fpu", "tsc", "msr", "pae", "cx8", "apic", "cmov", "fxsr", "sse",
            "sse2", "syscall", "lm");

    private static final String PREFIX = "selftest: ";

    private LinuxGuest() {
    }

    /** A console line and when it arrived (System.nanoTime). */
    record Line(String text, long nanos) {
    }

    /** A finished boot: the console's lines, stderr, exit status and wall time of the process. */
    record Boot(List<Line> lines, String err, int code, long wallNanos) {
        String console() {
            StringBuilder sb = new StringBuilder();
            lines.forEach(l -> sb.append(l.text()).append('\n'));
            return sb.toString();
        }

        /** Seconds from process start to the first line with this text, or -1. */
        double secondsTo(String text, long startNanos) {
            return lines.stream().filter(l -> l.text().equals(text)).findFirst()
                    .map(l -> (l.nanos() - startNanos) / 1e9).orElse(-1.0);
        }
    }

    /** Why the fetched guest cannot be used here, or null if it can. */
    static String missing() {
        for (Path p : List.of(VMLINUX, INITRAMFS, VERSIONS)) {
            if (!Files.isRegularFile(p)) {
                return p + " is missing: run guests/linux/fetch (needs apt-get, lz4, cpio; .ci/run does it)";
            }
        }
        return null;
    }

    /** The path of an executable on PATH, or null. */
    static Path onPath(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, name);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** guests/linux/init in this checkout: the fetch records its sha256 in the cache's versions. */
    static final Path INIT = Path.of("../guests/linux/init").toAbsolutePath().normalize();

    /**
     * Why the cached initramfs cannot run what this checkout's guests/linux/init does (it was built
     * from another version of it), or null. Tests that need a newer init's output skip with it.
     */
    static String staleInit() throws IOException {
        String why = missing();
        if (why != null) {
            return why;
        }
        String built = versions().getProperty("init-sha256", "");
        String here = sha256(Files.readAllBytes(INIT));
        return built.equals(here) ? null
                : "the cached initramfs was built from another guests/linux/init (sha256 " + built + ", this checkout's "
                        + here + "): run guests/linux/fetch";
    }

    /** The guest's MemTotal in kB from the init's "meminfo: N kB" line, or -1 if it printed none. */
    static long memTotalKb(Boot boot) {
        for (Line l : boot.lines()) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("meminfo: ([0-9]{1,12}) kB").matcher(l.text());
            if (m.matches()) {
                return Long.parseLong(m.group(1));
            }
        }
        return -1;
    }

    static Properties versions() throws IOException {
        Properties p = new Properties();
        try (var r = Files.newBufferedReader(VERSIONS)) {
            p.load(r);
        }
        return p;
    }

    /**
     * Runs a command whose stdout is the guest's console, each line stamped when it arrives; kills
     * it and fails if it has not ended after the timeout.
     */
    static Boot boot(List<String> command, long timeoutSeconds) throws IOException, InterruptedException {
        Path err = Files.createTempFile("linux-boot-err", ".txt");
        try {
            long start = System.nanoTime();
            Process p = new ProcessBuilder(command).redirectError(err.toFile()).start();
            p.getOutputStream().close();
            List<Line> lines = java.util.Collections.synchronizedList(new ArrayList<>());
            Thread reader = Thread.ofPlatform().daemon().name("linux-console").start(() -> {
                try (var in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String l; (l = in.readLine()) != null;) {
                        lines.add(new Line(l.replace("\r", ""), System.nanoTime()));
                    }
                } catch (IOException e) {
                    lines.add(new Line("(console read failed: " + e + ")", System.nanoTime()));
                }
            });
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                reader.join(5_000);
                fail(String.join(" ", command) + "\ndid not end within " + timeoutSeconds + " s; console so far:\n"
                        + new Boot(List.copyOf(lines), "", -1, 0).console() + "stderr:\n" + Files.readString(err));
            }
            long wall = System.nanoTime() - start;
            reader.join(10_000);
            return new Boot(List.copyOf(lines), Files.readString(err), p.exitValue(), wall);
        } finally {
            Files.deleteIfExists(err);
        }
    }

    /** A boot that passed the self-test, and when (host nanoTime) it was started. */
    record Passed(Boot boot, long startNanos) {
        /** Seconds from the start to the init's first self-test line. */
        double secondsToInit() {
            return boot.secondsTo("selftest: start", startNanos);
        }
    }

    /**
     * Boots {@code command} and requires what every self-test boot requires: the self-test of a
     * kernel on {@code vcpus} CPUs with the baseline flags, dated between the days read before and
     * after the boot, and exit status 0 (poweroff).
     */
    static Passed bootPassingSelfTest(List<String> command, long timeoutSeconds, int vcpus)
            throws IOException, InterruptedException {
        LocalDate before = utcToday();
        long start = System.nanoTime();
        Boot boot = boot(command, timeoutSeconds);
        checkSelfTest(boot, versions().getProperty("kernel-release"), vcpus, BASELINE_FLAGS, before, utcToday());
        assertEquals(0, boot.code(), boot.console() + boot.err());
        return new Passed(boot, start);
    }

    /**
     * Checks the self-test's lines: all keys in order, each value against what is known (fixed
     * results, the kernel release the fetch recorded, the host's date and wall time).
     */
    static void checkSelfTest(Boot boot, String kernelRelease, int vcpus, Set<String> requiredFlags, LocalDate... dates) {
        String context = "\n--- console ---\n" + boot.console() + "--- stderr ---\n" + boot.err();
        List<Line> self = boot.lines().stream().filter(l -> l.text().startsWith(PREFIX)).toList();
        List<String> keys = new ArrayList<>();
        Map<String, String> values = new LinkedHashMap<>();
        Map<String, Long> times = new LinkedHashMap<>();
        for (Line l : self) {
            String rest = l.text().substring(PREFIX.length());
            int sp = rest.indexOf(' ');
            String key = sp < 0 ? rest : rest.substring(0, sp);
            keys.add(key);
            values.put(key, sp < 0 ? "" : rest.substring(sp + 1));
            times.put(key, l.nanos());
        }
        assertEquals(String.join("\n", KEYS), String.join("\n", keys), "self-test lines in order" + context);

        assertEquals(kernelRelease, values.get("uname-r"), "uname -r" + context);
        assertEquals(String.valueOf(vcpus), values.get("nproc"), "nproc" + context);
        Set<String> flags = Set.of(values.get("cpu-flags").split(" "));
        for (String f : requiredFlags) {
            assertTrue(flags.contains(f), "CPU flag " + f + " missing in /proc/cpuinfo: " + flags + context);
        }

        // Issue 16's requirement: sleep 1 takes between 0.9 and 2 s of host wall time. The host
        // sees the sleep-begin and sleep-end lines, which bracket more than the sleep: the end of
        // stty, two cut(1) in subshells, the sleep process's start and exit, and the output of
        // sleep-end, one character per UART interrupt. Those are not the sleep and a loaded host
        // stretches them (2.21 s between the lines at load 5.5 on 2 cores, with 1.52 s by the
        // guest's clock). So the upper bound applies to the span less two commands' worth of that
        // cost, as the same boot measured it a moment later: the smaller of the gaps before the
        // date and epoch lines, each one $(date) subshell and one line out. The lower bound stays
        // on the whole span, which can only be longer than the sleep.
        double sleep = (times.get("sleep-end") - times.get("sleep-begin")) / 1e9;
        double command = Math.max(0, Math.min(times.get("date") - times.get("sleep-guest-cs"),
                times.get("epoch") - times.get("date")) / 1e9);
        double sleepAlone = sleep - 2 * command;
        assertTrue(sleep >= 0.9 && sleepAlone <= 2.0, String.format(java.util.Locale.ROOT,
                "sleep 1 took %.3f s of host wall time between its lines, %.3f s less two commands (%.3f s each)",
                sleep, sleepAlone, command) + context);
        long guestCs = number(values, "sleep-guest-cs", context);
        // The guest's own reading (this test's check, not the issue's): /proc/uptime has
        // centiseconds, both readings truncated, so at least 0.99 s; a guest clock that ran fast
        // would fail here. At most 3 s, wider than the 2 s, because the guest's span is
        // not the host's: it runs from one cut(1) reading /proc/uptime to the next, so it holds
        // the exit of one process and the start of two (sleep and cut) besides the second. A
        // loaded host stretches those in a 2-vCPU guest (each wakeup across vCPUs, a reschedule
        // IPI or a parent woken on the other CPU, waits until that vCPU's host thread gets a core),
        // and the guest's clock is the host's: 223 cs at load 10, while the host measured under 2 s (its
        // span starts at the sleep-begin line's arrival, which that load had delayed). A timer
        // firing a second or more late still fails here, and the host's bound above stays.
        assertTrue(guestCs >= 99 && guestCs <= 300, "sleep 1 took " + guestCs + " cs of guest uptime" + context);
        assertTrue(List.of(dates).contains(LocalDate.parse(values.get("date"))),
                "guest date " + values.get("date") + ", host (UTC) " + List.of(dates) + context);

        assertEquals("1048576", values.get("random-bytes"), "random file size" + context);
        String sha1 = values.get("sha256-1");
        assertTrue(sha1.matches("[0-9a-f]{64}"), "sha256sum: " + sha1 + context);
        assertEquals(sha1, values.get("sha256-2"), "the random file's two digests" + context);
        assertNotEquals(sha256(new byte[1 << 20]), sha1, "/dev/urandom gave zeros" + context);
        byte[] known = new byte[1 << 20];
        byte[] word = "cloister\n".getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < known.length; i++) {
            known[i] = word[i % word.length];
        }
        assertEquals(sha256(known), values.get("sha256-known"), "sha256sum of a known 1 MiB" + context);

        assertEquals("-7 1 3 4 5 10 22 100", values.get("sort-n"), "sort -n" + context);
        assertEquals("Zebra apple banana fig pear", values.get("sort"), "sort" + context);
        // sum of squares 1..100, 22/7, 2^31 * 3 in floating point, 1000003 mod 97.
        assertEquals("338350 3.1428571429 6442450944 30", values.get("awk"), "awk arithmetic" + context);
        // 1,000 iterations: the count, the sum 1..1000, x = (x * 31 + i) mod 1000003.
        assertEquals("1000 500500 630221", values.get("loop"), "shell loop" + context);
        assertTrue(number(values, "irq-timer", context) > 0, "no timer interrupts in /proc/interrupts" + context);
        assertTrue(number(values, "irq-serial", context) > 0, "no serial interrupts in /proc/interrupts" + context);
    }

    private static long number(Map<String, String> values, String key, String context) {
        String v = values.get(key);
        if (v == null || !v.matches("-?[0-9]{1,18}")) {
            fail(key + ": '" + v + "' is not a number" + context);
        }
        return Long.parseLong(v);
    }

    /** The host's date in UTC (the guest's RTC is UTC) now; tests pass it before and after a boot. */
    static LocalDate utcToday() {
        return LocalDate.now(ZoneOffset.UTC);
    }

    /**
     * The host's TSC frequency in kHz where /proc/cpuinfo gives it, or -1. Its "cpu MHz" is the
     * boot-time calibration (tsc = cpu_khz on CPUs with a constant TSC) unless the CPU has
     * APERF/MPERF, where it is the current, varying clock instead.
     */
    static long hostTscKhz() {
        try {
            String cpuinfo = Files.readString(Path.of("/proc/cpuinfo"));
            String flags = null;
            String mhz = null;
            try (var r = new BufferedReader(new StringReader(cpuinfo))) {
                for (String l; (l = r.readLine()) != null;) {
                    if (flags == null && l.startsWith("flags")) {
                        flags = " " + l.substring(l.indexOf(':') + 1) + " ";
                    } else if (mhz == null && l.startsWith("cpu MHz")) {
                        mhz = l.substring(l.indexOf(':') + 1).trim();
                    }
                }
            }
            if (flags == null || mhz == null || !flags.contains(" constant_tsc ") || flags.contains(" aperfmperf ")) {
                return -1;
            }
            return Math.round(Double.parseDouble(mhz) * 1000);
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
