package io.cloister.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FeatureFileTest {
    @TempDir
    Path dir;
    BundleLocator locator;

    @BeforeEach
    void setUp() throws IOException {
        Path bundles = Files.createDirectories(dir.resolve("bundles"));
        Files.writeString(bundles.resolve("a-1.0.jar"), "not really a jar");
        Files.writeString(bundles.resolve("b-2.0.jar"), "not really a jar");
        Files.writeString(bundles.resolve("c-3.0.jar"), "not really a jar");
        locator = new BundleLocator(List.of(bundles), List.of(dir.resolve("m2")));
    }

    private Path feature(String json) throws IOException {
        return Files.writeString(dir.resolve("f.json"), json);
    }

    @Test
    void readsBundlesInStartOrderAndConfigurations() throws Exception {
        Path f = feature("""
                { "feature-resource-version": "1.0", "id": "g:f:1",
                  "bundles": [ {"id": "g:c:3.0"}, {"id": "g:b:2.0", "start-order": "2"}, {"id": "g:a:1.0", "start-order": "1"} ],
                  "configurations": {
                    "my.pid": { "size:Long": 42, "name": "x" },
                    "my.factory~vm1": { "vcpus:Integer": 2 }
                  },
                  "extensions": { "framework-launching-properties": { "kind": "mandatory", "type": "json",
                      "json": { "gosh.args": "--nointeractive", "n": 3 } } }
                }""");
        Deployment d = FeatureFile.read(f, locator);
        assertEquals("g:f:1", d.featureId());
        assertEquals(List.of("g:a:1.0", "g:b:2.0", "g:c:3.0"), d.bundles().stream().map(Deployment.BundleJar::coordinates).toList());
        assertEquals(dir.resolve("bundles/a-1.0.jar"), d.bundles().get(0).jar());
        Deployment.Configuration single = d.configurations().stream().filter(c -> c.pid().equals("my.pid")).findFirst().orElseThrow();
        assertNull(single.factoryPid());
        assertEquals(42L, single.values().get("size"));
        Deployment.Configuration factory = d.configurations().stream().filter(c -> c.pid().equals("my.factory~vm1")).findFirst().orElseThrow();
        assertEquals("my.factory", factory.factoryPid());
        assertEquals("vm1", factory.name());
        assertEquals(2, factory.values().get("vcpus"));
        assertEquals("--nointeractive", d.frameworkProperties().get("gosh.args"));
        assertEquals("3", d.frameworkProperties().get("n"));
    }

    @Test
    void missingFileIsNamed() {
        LaunchException e = assertThrows(LaunchException.class, () -> FeatureFile.read(dir.resolve("nope.json"), locator));
        assertEquals(LaunchException.CONFIG, e.exitCode());
        assertTrue(e.getMessage().contains("nope.json") && e.getMessage().contains("not found"), e.getMessage());
    }

    @Test
    void malformedJsonIsOneLine() throws Exception {
        Path f = feature("{ \"feature-resource-version\": \"1.0\", \"id\": \"g:f:1\", \"bundles\": [ ");
        LaunchException e = assertThrows(LaunchException.class, () -> FeatureFile.read(f, locator));
        assertTrue(e.getMessage().startsWith("feature file " + f + " is malformed"), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void featureWithoutIdIsMalformed() throws Exception {
        Path f = feature("{ \"bundles\": [] }");
        LaunchException e = assertThrows(LaunchException.class, () -> FeatureFile.read(f, locator));
        assertTrue(e.getMessage().contains("is malformed"), e.getMessage());
    }

    @Test
    void missingBundleIsNamed() throws Exception {
        Path f = feature("""
                { "feature-resource-version": "1.0", "id": "g:f:1", "bundles": [ {"id": "g:zzz:9.9"} ] }""");
        LaunchException e = assertThrows(LaunchException.class, () -> FeatureFile.read(f, locator));
        assertTrue(e.getMessage().contains("g:zzz:9.9") && e.getMessage().contains("zzz-9.9.jar"), e.getMessage());
    }

    @Test
    void badStartOrderIsRefused() throws Exception {
        Path f = feature("""
                { "feature-resource-version": "1.0", "id": "g:f:1", "bundles": [ {"id": "g:a:1.0", "start-order": "soon"} ] }""");
        LaunchException e = assertThrows(LaunchException.class, () -> FeatureFile.read(f, locator));
        assertTrue(e.getMessage().contains("start-order 'soon'"), e.getMessage());
    }

    @Test
    void mavenRepositoryLayoutIsSearched() throws Exception {
        Path jar = dir.resolve("m2/org/example/thing/1.2/thing-1.2.jar");
        Files.createDirectories(jar.getParent());
        Files.writeString(jar, "x");
        Path f = feature("""
                { "feature-resource-version": "1.0", "id": "g:f:1", "bundles": [ {"id": "org.example:thing:1.2"} ] }""");
        assertEquals(jar, FeatureFile.read(f, locator).bundles().get(0).jar());
    }

    /** Found by FeatureFileFuzzTest: Felix's reader failed with a JVM text about a null JsonString. */
    @Test
    void membersTheReaderNeedsAreNamed() throws Exception {
        LaunchException e = assertThrows(LaunchException.class, () -> FeatureFile.read(feature("""
                { "id": "g:f:1", "bundles": [ {"id": "g:a:1.0"}, {"start-order": "1"} ] }"""), locator));
        assertTrue(e.getMessage().endsWith("is malformed: bundle 2 has no \"id\" string"), e.getMessage());
        assertEquals(LaunchException.CONFIG, e.exitCode());
    }

    @Test
    void valuesWithLineBreaksStayOnOneLine() throws Exception {
        LaunchException e = assertThrows(LaunchException.class, () -> FeatureFile.read(feature("""
                { "id": "g:f:1", "bundles": [ {"id": "g:a:1.0", "start-order": "1\\n2"} ] }"""), locator));
        assertTrue(e.getMessage().contains("start-order '1 2'") && !e.getMessage().contains("\n"), e.getMessage());
    }
}
