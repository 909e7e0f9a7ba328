package io.cloister.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.MethodModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * bin/vmm names methods of the emulator in HotSpot CompileCommands (dontinline), which HotSpot
 * never checks: a renamed method would silently be inlined again. Each name must be a method of
 * the class it names, read from the cpu-x86 bundle the distribution ships.
 */
class JitFlagsTest {
    private static final Pattern LOOP = Pattern.compile("(?m)^for m in ([\\w ]+); do\\s*\\n\\s*jit\\+=\\(-XX:CompileCommand=dontinline,([\\w/]+)\\.\\$m\\)");

    @Test
    void everyMethodBinVmmKeepsFromInliningExists() throws IOException {
        String script = Files.readString(Dist.VMM);
        Matcher m = LOOP.matcher(script);
        assertTrue(m.find(), "bin/vmm has no 'for m in ...; do jit+=(-XX:CompileCommand=dontinline,CLASS.$m)' loop");
        List<String> names = List.of(m.group(1).trim().split(" +"));
        String owner = m.group(2);
        assertEquals("io/cloister/cpu/x86/Memory", owner);
        Set<String> declared = methodsOf(owner);
        for (String name : names) {
            assertTrue(declared.contains(name), "bin/vmm keeps " + owner + "." + name + " from being inlined, but it has no such method: " + declared);
        }
        assertFalse(names.isEmpty());
    }

    private static Set<String> methodsOf(String internalName) throws IOException {
        Path jar;
        try (Stream<Path> bundles = Files.list(Dist.HOME.resolve("bundles"))) {
            jar = bundles.filter(p -> p.getFileName().toString().startsWith("cloister-cpu-x86-")).findFirst()
                    .orElseThrow(() -> new AssertionError("no cpu-x86 bundle in " + Dist.HOME.resolve("bundles")));
        }
        try (JarFile j = new JarFile(jar.toFile())) {
            var entry = j.getJarEntry(internalName + ".class");
            assertTrue(entry != null, jar + " has no " + internalName);
            ClassModel cm = ClassFile.of().parse(j.getInputStream(entry).readAllBytes());
            return cm.methods().stream().map(MethodModel::methodName).map(Object::toString).collect(Collectors.toSet());
        }
    }
}
