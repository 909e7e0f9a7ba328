package io.cloister.distribution;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The distribution under test (target/cloister) and helpers to run bin/vmm as a process. */
final class Dist {
    static final Path HOME = Path.of(System.getProperty("cloister.home", "target/cloister")).toAbsolutePath();
    static final Path VMM = HOME.resolve("bin/vmm");
    static final Path DEFAULT_FEATURE = HOME.resolve("features/default.json");

    record Run(int code, String out, String err) {
    }

    private Dist() {
    }

    static Run vmm(String stdin, String... args) throws IOException, InterruptedException {
        return vmmWithEnv(java.util.Map.of(), stdin, args);
    }

    /** As above, with these environment variables too (e.g. CLOISTER_JAVA_OPTS). */
    static Run vmmWithEnv(java.util.Map<String, String> env, String stdin, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(VMM.toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(env);
        Path out = Files.createTempFile("vmm-out", ".txt");
        Path err = Files.createTempFile("vmm-err", ".txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        try (var in = p.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            }
        }
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("bin/vmm " + String.join(" ", args) + " did not finish in 60 s");
        }
        try {
            return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** A framework in this JVM with the bundles and configurations of {@code feature}, without Gogo's interactive shell. */
    static io.cloister.launcher.VmmRuntime runtime(Path feature) throws Exception {
        return io.cloister.launcher.VmmRuntime.start(io.cloister.launcher.FeatureFile.read(feature,
                io.cloister.launcher.BundleLocator.forHome(HOME)), java.util.Map.of("gosh.args", "--nointeractive"));
    }

    /** A feature file with the given bundle coordinates and raw JSON configurations. */
    static Path feature(Path dir, String configurations, String... bundles) throws IOException {
        StringBuilder sb = new StringBuilder("{\"feature-resource-version\":\"1.0\",\"id\":\"io.cloister.test:f:1\",\"bundles\":[");
        for (int i = 0; i < bundles.length; i++) {
            sb.append(i == 0 ? "" : ",").append("{\"id\":\"").append(bundles[i]).append("\"}");
        }
        sb.append("]");
        if (configurations != null) {
            sb.append(",\"configurations\":").append(configurations);
        }
        sb.append("}");
        return Files.writeString(dir.resolve("feature-" + System.nanoTime() + ".json"), sb);
    }

    static int defaultBundlesCount() {
        try {
            return defaultBundles().size();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The bundle coordinates of the default feature. */
    static List<String> defaultBundles() throws IOException {
        List<String> ids = new ArrayList<>();
        var m = java.util.regex.Pattern.compile("\"id\"\\s*:\\s*\"([^\"]+:[^\"]+:[^\"]+)\"\\s*,\\s*\"start-order\"")
                .matcher(Files.readString(DEFAULT_FEATURE));
        while (m.find()) {
            ids.add(m.group(1));
        }
        return ids;
    }
}
