package io.cloister.api;

import static java.lang.classfile.ClassFile.ACC_ABSTRACT;
import static java.lang.classfile.ClassFile.ACC_INTERFACE;
import static java.lang.classfile.ClassFile.ACC_PRIVATE;
import static java.lang.classfile.ClassFile.ACC_PUBLIC;
import static java.lang.classfile.ClassFile.ACC_SYNTHETIC;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.classfile.Annotation;
import java.lang.classfile.AnnotationElement;
import java.lang.classfile.ClassBuilder;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassSignature;
import java.lang.classfile.MethodSignature;
import java.lang.classfile.attribute.RuntimeInvisibleAnnotationsAttribute;
import java.lang.classfile.attribute.SignatureAttribute;
import java.lang.constant.ClassDesc;
import java.lang.constant.ConstantDescs;
import java.lang.constant.MethodTypeDesc;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

import org.junit.jupiter.api.Test;

/**
 * The rules of {@link ApiShape} on small class files made here, so each is seen to catch what it
 * is for (the real API may pass them all, which alone would not show they can fail).
 */
class ApiShapeSelfTest {
    private static final String VERSIONING = "org.osgi.annotation.versioning.";

    @Test
    void packageCycleIsFoundAndNamed() {
        List<byte[]> classes = versionedPackages("a", "b");
        classes.add(type("a/A", ACC_PUBLIC, cb -> cb.withField("b", desc("b/B"), ACC_PUBLIC)));
        classes.add(type("b/B", ACC_PUBLIC, cb -> cb.withField("a", desc("a/A"), 0)));
        List<String> cycles = ApiShape.of(classes).packageCycles();
        assertEquals(1, cycles.size(), cycles.toString());
        assertTrue(cycles.getFirst().contains("io.cloister.api.a.A -> io.cloister.api.b.B"), cycles.getFirst());
        assertTrue(cycles.getFirst().contains("io.cloister.api.b.B -> io.cloister.api.a.A"), cycles.getFirst());

        classes.removeLast();
        classes.add(type("b/B", ACC_PUBLIC, cb -> { }));
        assertEquals(List.of(), ApiShape.of(classes).packageCycles());
    }

    @Test
    void cycleThroughAGenericSignatureOnlyIsFound() {
        List<byte[]> classes = versionedPackages("a", "b");
        classes.add(type("a/A", ACC_PUBLIC, cb -> cb.withField("b", desc("b/B"), ACC_PUBLIC)));
        // B names A only as a type argument: List<A>
        classes.add(type("b/B", ACC_PUBLIC, cb -> cb.withMethod("all", MethodTypeDesc.of(ConstantDescs.CD_List),
                ACC_PUBLIC | ACC_ABSTRACT, mb -> mb.with(SignatureAttribute.of(
                        MethodSignature.parseFrom("()Ljava/util/List<L" + ApiShape.API + "/a/A;>;"))))));
        assertEquals(1, ApiShape.of(classes).packageCycles().size());
    }

    @Test
    void unmarkedPublicInterfaceIsFound() {
        List<byte[]> classes = versionedPackages("a");
        classes.add(type("a/Bare", ACC_PUBLIC | ACC_INTERFACE | ACC_ABSTRACT, cb -> { }));
        classes.add(type("a/Provided", ACC_PUBLIC | ACC_INTERFACE | ACC_ABSTRACT, cb -> cb.with(marks("ProviderType"))));
        classes.add(type("a/Consumed", ACC_PUBLIC | ACC_INTERFACE | ACC_ABSTRACT, cb -> cb.with(marks("ConsumerType"))));
        classes.add(type("a/Both", ACC_PUBLIC | ACC_INTERFACE | ACC_ABSTRACT,
                cb -> cb.with(marks("ProviderType", "ConsumerType"))));
        classes.add(type("a/Hidden", ACC_INTERFACE | ACC_ABSTRACT, cb -> { }));
        classes.add(type("a/Impl", ACC_PUBLIC, cb -> { }));
        List<String> found = ApiShape.of(classes).unmarkedInterfaces();
        assertEquals(2, found.size(), found.toString());
        assertTrue(found.get(0).startsWith("io.cloister.api.a.Bare: "), found.toString());
        assertTrue(found.get(1).startsWith("io.cloister.api.a.Both: "), found.toString());
    }

    @Test
    void packageWithoutExportOrVersionOrBelowOneIsFound() {
        List<byte[]> classes = new ArrayList<>();
        classes.add(type("ok/package-info", ACC_INTERFACE | ACC_ABSTRACT | ACC_SYNTHETIC, cb -> cb.with(packageMarks("1.2.0"))));
        classes.add(type("ok/X", ACC_PUBLIC, cb -> { }));
        classes.add(type("none/X", ACC_PUBLIC, cb -> { }));
        classes.add(type("zero/package-info", ACC_INTERFACE | ACC_ABSTRACT | ACC_SYNTHETIC, cb -> cb.with(packageMarks("0.9.0"))));
        classes.add(type("zero/X", ACC_PUBLIC, cb -> { }));
        classes.add(type("unversioned/package-info", ACC_INTERFACE | ACC_ABSTRACT | ACC_SYNTHETIC,
                cb -> cb.with(RuntimeInvisibleAnnotationsAttribute.of(Annotation.of(ClassDesc.of("org.osgi.annotation.bundle.Export"))))));
        classes.add(type("unversioned/X", ACC_PUBLIC, cb -> { }));
        List<String> found = ApiShape.of(classes).unversionedPackages();
        assertEquals(List.of("io.cloister.api.none: no package-info",
                "io.cloister.api.unversioned: package-info without @Version",
                "io.cloister.api.zero: @Version(\"0.9.0\") is below 1.0, which bnd does not baseline"), found);
    }

    @Test
    void outerTypeLeadingToInnerTypeIsFoundDirectlyAndTransitively() {
        String vm = ApiShape.API + "/vm";
        Set<String> outer = Set.of(vm);
        List<byte[]> classes = versionedPackages("vm", "memory");
        classes.add(type("memory/Control", ACC_PUBLIC | ACC_INTERFACE | ACC_ABSTRACT, cb -> { }));
        // a private method may name it: only what other bundles can reach counts
        classes.add(type("vm/Clean", ACC_PUBLIC, cb -> cb.withMethod("c", MethodTypeDesc.of(desc("memory/Control")),
                ACC_PRIVATE, mb -> { })));
        assertEquals(List.of(), ApiShape.of(classes).outerLeaks(outer));

        // Optional<Control> in a generic signature only
        classes.add(type("vm/Direct", ACC_PUBLIC | ACC_INTERFACE | ACC_ABSTRACT, cb -> cb.withMethod("memory",
                MethodTypeDesc.of(ClassDesc.of("java.util.Optional")), ACC_PUBLIC | ACC_ABSTRACT, mb -> mb.with(SignatureAttribute.of(
                        MethodSignature.parseFrom("()Ljava/util/Optional<L" + ApiShape.API + "/memory/Control;>;"))))));
        // a public type returns a package-private outer type whose public method returns Control
        classes.add(type("vm/Hidden", 0, cb -> cb.withMethod("control", MethodTypeDesc.of(desc("memory/Control")),
                ACC_PUBLIC | ACC_ABSTRACT, mb -> { })));
        classes.add(type("vm/Entry", ACC_PUBLIC | ACC_INTERFACE | ACC_ABSTRACT, cb -> cb.withMethod("next",
                MethodTypeDesc.of(desc("vm/Hidden")), ACC_PUBLIC | ACC_ABSTRACT, mb -> { })));
        // a supertype
        classes.add(type("vm/Sub", ACC_PUBLIC | ACC_INTERFACE | ACC_ABSTRACT, cb -> cb.withInterfaceSymbols(desc("memory/Control"))));
        // a generic supertype's argument: Sub2 extends Comparable<Control>
        classes.add(type("vm/Sub2", ACC_PUBLIC | ACC_INTERFACE | ACC_ABSTRACT, cb -> cb
                .withInterfaceSymbols(ClassDesc.of("java.lang.Comparable"))
                .with(SignatureAttribute.of(ClassSignature.parseFrom(
                        "Ljava/lang/Object;Ljava/lang/Comparable<L" + ApiShape.API + "/memory/Control;>;")))));
        List<String> leaks = ApiShape.of(classes).outerLeaks(outer);
        assertEquals(4, leaks.size(), String.join("\n", leaks));
        String all = String.join("\n", leaks);
        assertTrue(all.contains("io.cloister.api.vm.Direct.memory() : Optional -> io.cloister.api.memory.Control"), all);
        assertTrue(all.contains("io.cloister.api.vm.Hidden.control() : Control (reached from io.cloister.api.vm.Entry.next() : Hidden)"
                + " -> io.cloister.api.memory.Control"), all);
        assertTrue(all.contains("io.cloister.api.vm.Sub implements -> io.cloister.api.memory.Control"), all);
        assertTrue(all.contains("io.cloister.api.vm.Sub2 <type signature> -> io.cloister.api.memory.Control"), all);
    }

    /** A package-info with @Export and @Version("1.0.0") for each named package (API-relative). */
    private static List<byte[]> versionedPackages(String... packages) {
        List<byte[]> out = new ArrayList<>();
        for (String p : packages) {
            out.add(type(p + "/package-info", ACC_INTERFACE | ACC_ABSTRACT | ACC_SYNTHETIC, cb -> cb.with(packageMarks("1.0.0"))));
        }
        return out;
    }

    private static RuntimeInvisibleAnnotationsAttribute packageMarks(String version) {
        return RuntimeInvisibleAnnotationsAttribute.of(
                Annotation.of(ClassDesc.of("org.osgi.annotation.bundle.Export")),
                Annotation.of(ClassDesc.of(VERSIONING + "Version"), AnnotationElement.ofString("value", version)));
    }

    private static RuntimeInvisibleAnnotationsAttribute marks(String... simpleNames) {
        List<Annotation> list = new ArrayList<>();
        for (String n : simpleNames) {
            list.add(Annotation.of(ClassDesc.of(VERSIONING + n)));
        }
        return RuntimeInvisibleAnnotationsAttribute.of(list);
    }

    /** The class io/cloister/api/{@code relative}, with these flags. */
    private static byte[] type(String relative, int flags, Consumer<ClassBuilder> body) {
        return ClassFile.of().build(desc(relative), cb -> {
            cb.withFlags(flags);
            body.accept(cb);
        });
    }

    private static ClassDesc desc(String relative) {
        return ClassDesc.ofInternalName(ApiShape.API + "/" + relative);
    }
}
