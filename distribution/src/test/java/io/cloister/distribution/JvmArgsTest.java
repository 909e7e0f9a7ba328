package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.MethodModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * lib/jvm.args, which bin/vmm hands to java, names methods of the emulator in HotSpot
 * CompileCommands (dontinline), which HotSpot never checks: a renamed method would silently be
 * inlined again. Each name must be a method of the class it names, read from the bundles the
 * distribution ships.
 */
class JvmArgsTest {
    private static final Pattern DONTINLINE = Pattern.compile("(?m)^-XX:CompileCommand=dontinline,([\\w/$]+)\\.(\\w+)$");

    @Test
    void binVmmPassesTheJvmArguments() throws IOException {
        assertTrue(Files.readString(Dist.VMM).contains("@\"$here/lib/jvm.args\""), "bin/vmm does not pass lib/jvm.args to java");
    }

    /** A collector chosen in CLOISTER_JAVA_OPTS replaces the file's, which the JVM would otherwise refuse to start with. */
    @Test
    void aCollectorGivenInTheEnvironmentReplacesTheFilesOne() throws Exception {
        Dist.Run run = Dist.vmmWithEnv(java.util.Map.of("CLOISTER_JAVA_OPTS", "-XX:+UseSerialGC"), null, "run", "--kernel", "/nonexistent/vmlinux");
        assertEquals(2, run.code(), run.err());
        assertTrue(run.err().contains("cannot be read"), "the VMM itself answered: " + run.err());
        assertFalse(run.err().contains("Multiple garbage collectors"), run.err());
    }

    @Test
    void everyMethodKeptFromInliningExists() throws IOException {
        Matcher m = DONTINLINE.matcher(Files.readString(Dist.HOME.resolve("lib/jvm.args")));
        List<String[]> named = new ArrayList<>();
        while (m.find()) {
            named.add(new String[] {m.group(1), m.group(2)});
        }
        assertFalse(named.isEmpty(), "lib/jvm.args names no method to keep from inlining");
        for (String[] n : named) {
            Set<String> declared = methodsOf(n[0]);
            assertTrue(declared.contains(n[1]), "lib/jvm.args keeps " + n[0] + "." + n[1] + " from being inlined, but it has no such method: "
                    + declared);
        }
    }

    /** The methods the class declares, from the first bundle that has it. */
    private static Set<String> methodsOf(String internalName) throws IOException {
        List<Path> jars;
        try (Stream<Path> bundles = Files.list(Dist.HOME.resolve("bundles"))) {
            jars = bundles.filter(p -> p.toString().endsWith(".jar")).sorted().toList();
        }
        for (Path jar : jars) {
            try (JarFile j = new JarFile(jar.toFile())) {
                var entry = j.getJarEntry(internalName + ".class");
                if (entry != null) {
                    return ClassFile.of().parse(j.getInputStream(entry).readAllBytes()).methods().stream().map(MethodModel::methodName)
                            .map(Object::toString).collect(Collectors.toSet());
                }
            }
        }
        throw new AssertionError("no bundle in " + Dist.HOME.resolve("bundles") + " has " + internalName);
    }
}
