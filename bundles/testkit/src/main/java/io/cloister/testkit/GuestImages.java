package io.cloister.testkit;

import java.nio.file.Files;
import java.nio.file.Path;

/** The repository's test guests (guests/bin), found from the working directory. */
public final class GuestImages {
    private GuestImages() {
    }

    /** The guests/bin directory. */
    public static Path dir() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("guests/bin"))) {
                return p.resolve("guests/bin");
            }
        }
        throw new IllegalStateException("guests/bin not found above " + Path.of("").toAbsolutePath());
    }

    /** A guest image of guests/bin, e.g. hello.elf. */
    public static Path of(String elf) {
        return dir().resolve(elf);
    }
}
