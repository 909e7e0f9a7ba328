package io.cloister.launcher;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a feature file asks for, with every bundle located on disk: the launcher's plain-data view
 * of an OSGi feature.
 */
public record Deployment(String featureId, Path source, List<BundleJar> bundles, List<Configuration> configurations,
        Map<String, String> frameworkProperties) {

    /**
     * A bundle to install: its Maven coordinates (or path), the jar found for it, its start order (0 =
     * default), and whether it is a device bundle added to the feature (--device), which the shell may
     * uninstall again, unlike the feature's own bundles.
     */
    public record BundleJar(String coordinates, Path jar, int startOrder, boolean device) {
        public BundleJar(String coordinates, Path jar, int startOrder) {
            this(coordinates, jar, startOrder, false);
        }
    }

    /** An initial configuration; {@code factoryPid} is null for a singleton configuration. */
    public record Configuration(String pid, String factoryPid, String name, Map<String, Object> values) {
    }
}
