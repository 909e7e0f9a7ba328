package io.cloister.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * A feature file is the user's (or anyone's who hands them one): for every content, reading it
 * gives a deployment or a LaunchException with exit status 2 and a one-line message; any other
 * exception is a finding. Seeds: the distribution's features and small ones for each part of the
 * format (FeatureFileFuzzTestInputs/read/); every bundle those name is "found", so mutations get
 * past the bundle look-up to the configurations and extensions.
 */
class FeatureFileFuzzTest {
    private static final Pattern BUNDLE_ID = Pattern.compile("\"id\"\\s*:\\s*\"[^\":]+:([^\":]+):([^\":]+)\"");
    final Path dir;
    final Path file;
    final BundleLocator locator;

    FeatureFileFuzzTest() throws IOException, URISyntaxException {
        dir = Files.createTempDirectory("feature-fuzz");
        file = dir.resolve("fuzz.json");
        Path bundles = Files.createDirectories(dir.resolve("bundles"));
        var seeds = FeatureFileFuzzTest.class.getResource("FeatureFileFuzzTestInputs/read");
        try (Stream<Path> files = Files.list(Path.of(seeds.toURI()))) {
            for (Path seed : files.toList()) {
                Matcher m = BUNDLE_ID.matcher(Files.readString(seed));
                while (m.find()) {
                    Path jar = bundles.resolve(m.group(1) + "-" + m.group(2) + ".jar");
                    if (!Files.exists(jar)) {
                        Files.writeString(jar, "a bundle's place");
                    }
                }
            }
        }
        locator = new BundleLocator(List.of(bundles), List.of());
    }

    @AfterEach
    void cleanUp() throws IOException {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted((a, b) -> b.compareTo(a)).toList()) {
                Files.delete(p);
            }
        }
    }

    @FuzzTest(maxDuration = "15s")
    @Timeout(10)
    void read(byte[] json) throws IOException {
        Files.write(file, json);
        Deployment d;
        try {
            d = FeatureFile.read(file, locator);
        } catch (LaunchException e) {
            assertEquals(LaunchException.CONFIG, e.exitCode(), e.getMessage());
            String m = e.getMessage();
            assertTrue(m != null && !m.isBlank() && !m.contains("\n") && !m.contains("\r") && !m.matches("(?s).*[:\\s]null"),
                    "not a one-line message: " + m);
            return;
        }
        for (Deployment.BundleJar b : d.bundles()) {
            assertTrue(b.startOrder() >= 0, "start order " + b.startOrder());
            try (InputStream in = Files.newInputStream(b.jar())) {
                assertTrue(in.read() >= 0, "located bundle " + b.jar() + " is a real file");
            }
        }
    }
}
