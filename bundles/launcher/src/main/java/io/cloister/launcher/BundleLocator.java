package io.cloister.launcher;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.osgi.service.feature.ID;

/**
 * Finds the jar for a feature's bundle coordinates: first the distribution's flat {@code bundles/}
 * directory, then each Maven repository given (the local repository for developers).
 */
public final class BundleLocator {
    private final List<Path> flatDirs;
    private final List<Path> mavenRepos;

    public BundleLocator(List<Path> flatDirs, List<Path> mavenRepos) {
        this.flatDirs = List.copyOf(flatDirs);
        this.mavenRepos = List.copyOf(mavenRepos);
    }

    /** The distribution's bundles/ plus the user's local Maven repository. */
    public static BundleLocator forHome(Path home) {
        String repo = System.getProperty("cloister.maven.repo",
                System.getProperty("user.home") + "/.m2/repository");
        return new BundleLocator(home == null ? List.of() : List.of(home.resolve("bundles")), List.of(Path.of(repo)));
    }

    public Path locate(ID id) throws LaunchException {
        String type = id.getType().orElse("jar");
        String file = id.getArtifactId() + "-" + id.getVersion() + id.getClassifier().map(c -> "-" + c).orElse("") + "." + type;
        List<Path> tried = new ArrayList<>();
        for (Path dir : flatDirs) {
            tried.add(dir.resolve(file));
        }
        for (Path repo : mavenRepos) {
            tried.add(repo.resolve(id.getGroupId().replace('.', '/')).resolve(id.getArtifactId())
                    .resolve(id.getVersion()).resolve(file));
        }
        for (Path candidate : tried) {
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        throw new LaunchException(LaunchException.CONFIG, "bundle " + id + " not found (looked for " + file + " in "
                + String.join(", ", tried.stream().map(p -> p.getParent().toString()).toList()) + ")");
    }
}
