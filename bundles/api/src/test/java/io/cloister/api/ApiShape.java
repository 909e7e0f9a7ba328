package io.cloister.api;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.classfile.AccessFlags;
import java.lang.classfile.Annotation;
import java.lang.classfile.AnnotationValue;
import java.lang.classfile.Attributes;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.FieldModel;
import java.lang.classfile.MethodModel;
import java.lang.classfile.attribute.InnerClassInfo;
import java.lang.classfile.constantpool.ClassEntry;
import java.lang.classfile.constantpool.PoolEntry;
import java.lang.classfile.constantpool.Utf8Entry;
import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;
import java.lang.reflect.AccessFlag;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The API's shape as its class files show it, with the four rules {@link ApiShapeTest} checks.
 * Class files, not reflection, because the OSGi versioning annotations have CLASS retention: they
 * exist only in RuntimeInvisibleAnnotations. Each rule returns its violations, one line each.
 */
final class ApiShape {
    static final String API = "io/cloister/api";

    private static final String PROVIDER_TYPE = "Lorg/osgi/annotation/versioning/ProviderType;";
    private static final String CONSUMER_TYPE = "Lorg/osgi/annotation/versioning/ConsumerType;";
    private static final String VERSION = "Lorg/osgi/annotation/versioning/Version;";
    private static final String EXPORT = "Lorg/osgi/annotation/bundle/Export;";
    /** A class named in a descriptor or generic signature: {@code Lname;}, {@code Lname<...>;}, {@code Lname.Inner;}. */
    private static final Pattern NAMED = Pattern.compile("L(" + API + "/[A-Za-z0-9_$/]+)[;<.]");

    /** Class models by internal name (io/cloister/api/vm/Vmm). */
    private final Map<String, ClassModel> classes = new TreeMap<>();

    private ApiShape(Collection<byte[]> classFiles) {
        for (byte[] bytes : classFiles) {
            ClassModel model = ClassFile.of().parse(bytes);
            String name = model.thisClass().asInternalName();
            if (name.equals(API) || name.startsWith(API + "/")) {
                classes.put(name, model);
            }
        }
    }

    static ApiShape of(Collection<byte[]> classFiles) {
        return new ApiShape(classFiles);
    }

    /** Reads every class file under {@code classesDir} (the api module's target/classes). */
    static ApiShape read(Path classesDir) {
        try (Stream<Path> files = Files.walk(classesDir)) {
            List<byte[]> all = new ArrayList<>();
            for (Path p : files.filter(f -> f.toString().endsWith(".class")).toList()) {
                all.add(Files.readAllBytes(p));
            }
            return new ApiShape(all);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int size() {
        return classes.size();
    }

    /** The API's packages (internal form), those holding at least one class. */
    Set<String> packages() {
        return classes.keySet().stream().map(ApiShape::packageOf).collect(Collectors.toCollection(TreeSet::new));
    }

    // ---- (a) no package cycles -----------------------------------------------------------------

    /** One line per package dependency cycle, naming each edge of it with one class that makes it. */
    List<String> packageCycles() {
        // edges.get(a).get(b) = an example "Type -> Type" that makes package a depend on b
        Map<String, Map<String, String>> edges = new TreeMap<>();
        for (ClassModel c : classes.values()) {
            String from = c.thisClass().asInternalName();
            for (String to : referencedApiClasses(c)) {
                String pa = packageOf(from);
                String pb = packageOf(to);
                if (!pa.equals(pb)) {
                    edges.computeIfAbsent(pa, k -> new TreeMap<>()).putIfAbsent(pb, dotted(from) + " -> " + dotted(to));
                }
            }
        }
        List<String> out = new ArrayList<>();
        for (Set<String> scc : stronglyConnected(packages(), edges)) {
            if (scc.size() < 2) {
                continue;
            }
            StringBuilder sb = new StringBuilder("cycle among " + scc.stream().map(ApiShape::dotted).toList() + ":");
            for (String a : scc) {
                for (var e : edges.getOrDefault(a, Map.of()).entrySet()) {
                    if (scc.contains(e.getKey())) {
                        sb.append(" [").append(dotted(a)).append(" uses ").append(dotted(e.getKey()))
                                .append(": ").append(e.getValue()).append(']');
                    }
                }
            }
            out.add(sb.toString());
        }
        return out;
    }

    /** Every API class a class file names anywhere: constant pool, descriptors, generic signatures, annotations. */
    private static Set<String> referencedApiClasses(ClassModel c) {
        Set<String> out = new TreeSet<>();
        for (PoolEntry e : c.constantPool()) {
            if (e instanceof ClassEntry ce) {
                String n = ce.asInternalName();
                if (n.startsWith("[")) {
                    namedIn(n, out);
                } else if (isApi(n)) {
                    out.add(n);
                }
            } else if (e instanceof Utf8Entry u) {
                namedIn(u.stringValue(), out);
            }
        }
        out.remove(c.thisClass().asInternalName());
        return out;
    }

    private static void namedIn(String descriptorOrSignature, Set<String> into) {
        Matcher m = NAMED.matcher(descriptorOrSignature);
        while (m.find()) {
            into.add(m.group(1));
        }
    }

    /** Tarjan's strongly connected components, each as a sorted set. */
    private static List<Set<String>> stronglyConnected(Set<String> nodes, Map<String, Map<String, String>> edges) {
        Map<String, Integer> index = new HashMap<>();
        Map<String, Integer> low = new HashMap<>();
        Deque<String> stack = new ArrayDeque<>();
        Set<String> onStack = new LinkedHashSet<>();
        List<Set<String>> out = new ArrayList<>();
        for (String n : nodes) {
            if (!index.containsKey(n)) {
                strongConnect(n, edges, index, low, stack, onStack, out);
            }
        }
        return out;
    }

    private static void strongConnect(String v, Map<String, Map<String, String>> edges, Map<String, Integer> index,
            Map<String, Integer> low, Deque<String> stack, Set<String> onStack, List<Set<String>> out) {
        index.put(v, index.size());
        low.put(v, index.get(v));
        stack.push(v);
        onStack.add(v);
        for (String w : edges.getOrDefault(v, Map.of()).keySet()) {
            if (!index.containsKey(w)) {
                strongConnect(w, edges, index, low, stack, onStack, out);
                low.put(v, Math.min(low.get(v), low.get(w)));
            } else if (onStack.contains(w)) {
                low.put(v, Math.min(low.get(v), index.get(w)));
            }
        }
        if (low.get(v).equals(index.get(v))) {
            Set<String> scc = new TreeSet<>();
            String w;
            do {
                w = stack.pop();
                onStack.remove(w);
                scc.add(w);
            } while (!w.equals(v));
            out.add(scc);
        }
    }

    // ---- (b) every public interface is @ProviderType or @ConsumerType ---------------------------

    List<String> unmarkedInterfaces() {
        List<String> out = new ArrayList<>();
        for (ClassModel c : classes.values()) {
            Set<AccessFlag> flags = c.flags().flags();
            if (!flags.contains(AccessFlag.INTERFACE) || flags.contains(AccessFlag.ANNOTATION) || !visible(c)) {
                continue;
            }
            Set<String> marks = annotations(c).keySet();
            boolean provider = marks.contains(PROVIDER_TYPE);
            boolean consumer = marks.contains(CONSUMER_TYPE);
            if (!provider && !consumer) {
                out.add(dotted(c) + ": public interface with neither @ProviderType nor @ConsumerType");
            } else if (provider && consumer) {
                out.add(dotted(c) + ": both @ProviderType and @ConsumerType");
            }
        }
        return out;
    }

    // ---- (c) every package has a package-info with @Version (>= 1.0) and @Export -------------

    List<String> unversionedPackages() {
        List<String> out = new ArrayList<>();
        for (String pkg : packages()) {
            ClassModel info = classes.get(pkg + "/package-info");
            if (info == null) {
                out.add(dotted(pkg) + ": no package-info");
                continue;
            }
            Map<String, Annotation> marks = annotations(info);
            Annotation version = marks.get(VERSION);
            if (version == null) {
                out.add(dotted(pkg) + ": package-info without @Version");
            } else {
                String v = version.elements().stream().filter(e -> e.name().equalsString("value"))
                        .map(e -> e.value() instanceof AnnotationValue.OfString s ? s.stringValue() : "?")
                        .findFirst().orElse("?");
                // bnd's baselining skips package versions below 1.0: such a package would go unchecked.
                if (!v.matches("[1-9][0-9]*(\\..*)?")) {
                    out.add(dotted(pkg) + ": @Version(\"" + v + "\") is below 1.0, which bnd does not baseline");
                }
            }
            if (!marks.containsKey(EXPORT)) {
                out.add(dotted(pkg) + ": package-info without @Export");
            }
        }
        return out;
    }

    // ---- (d) the outer circle reaches no inner-circle type ------------------------------------

    /**
     * Follows the public and protected members and the supertypes of every visible type in the
     * {@code outer} packages (internal form), and the outer types they lead to, visible or not;
     * one line for each reference to an API type outside {@code outer}, with the path to it.
     */
    List<String> outerLeaks(Set<String> outer) {
        Map<String, String> reachedVia = new TreeMap<>();
        Deque<String> work = new ArrayDeque<>();
        for (ClassModel c : classes.values()) {
            String n = c.thisClass().asInternalName();
            if (outer.contains(packageOf(n)) && visible(c) && !n.endsWith("/package-info")) {
                reachedVia.put(n, "");
                work.add(n);
            }
        }
        Set<String> out = new LinkedHashSet<>();
        while (!work.isEmpty()) {
            String n = work.poll();
            ClassModel c = classes.get(n);
            if (c == null) {
                continue; // an API type the build did not produce: nothing to follow
            }
            for (String[] ref : exposedReferences(c)) {
                String target = ref[1];
                String where = dotted(n) + ref[0] + reachedVia.get(n);
                if (!outer.contains(packageOf(target))) {
                    out.add(where + " -> " + dotted(target));
                } else if (!reachedVia.containsKey(target)) {
                    reachedVia.put(target, " (reached from " + where + ")");
                    work.add(target);
                }
            }
        }
        return new ArrayList<>(out);
    }

    /** {where, api type} for each API type in the supertypes and exposed members of a class. */
    private static List<String[]> exposedReferences(ClassModel c) {
        List<String[]> out = new ArrayList<>();
        c.superclass().ifPresent(s -> add(out, " extends", s.asInternalName()));
        c.interfaces().forEach(i -> add(out, " implements", i.asInternalName()));
        c.findAttribute(Attributes.signature()).ifPresent(s -> addAll(out, " <type signature>", s.signature().stringValue()));
        c.findAttribute(Attributes.permittedSubclasses())
                .ifPresent(p -> p.permittedSubclasses().forEach(s -> add(out, " permits", s.asInternalName())));
        for (FieldModel f : c.fields()) {
            if (exposed(f.flags())) {
                String where = "." + f.fieldName().stringValue();
                addAll(out, where, f.fieldType().stringValue());
                f.findAttribute(Attributes.signature()).ifPresent(s -> addAll(out, where, s.signature().stringValue()));
            }
        }
        for (MethodModel m : c.methods()) {
            if (exposed(m.flags())) {
                String where = "." + describe(m);
                addAll(out, where, m.methodType().stringValue());
                m.findAttribute(Attributes.signature()).ifPresent(s -> addAll(out, where, s.signature().stringValue()));
                m.findAttribute(Attributes.exceptions())
                        .ifPresent(x -> x.exceptions().forEach(e -> add(out, where + " throws", e.asInternalName())));
            }
        }
        return out;
    }

    private static void add(List<String[]> out, String where, String internalName) {
        if (isApi(internalName)) {
            out.add(new String[] {where, internalName});
        }
    }

    private static void addAll(List<String[]> out, String where, String descriptorOrSignature) {
        Set<String> named = new TreeSet<>();
        namedIn(descriptorOrSignature, named);
        named.forEach(n -> out.add(new String[] {where, n}));
    }

    private static boolean exposed(AccessFlags flags) {
        return (flags.has(AccessFlag.PUBLIC) || flags.has(AccessFlag.PROTECTED)) && !flags.has(AccessFlag.SYNTHETIC);
    }

    private static String describe(MethodModel m) {
        MethodTypeDesc t = m.methodTypeSymbol();
        String params = t.parameterList().stream().map(ClassDesc::displayName).collect(Collectors.joining(", "));
        return m.methodName().stringValue() + "(" + params + ") : " + t.returnType().displayName();
    }

    // ---- shared ---------------------------------------------------------------------------------

    /**
     * Whether other bundles can name the type: a public top-level class, or a public or protected
     * member class of a visible class (nested classes keep their real flags in InnerClasses).
     */
    private boolean visible(ClassModel c) {
        String name = c.thisClass().asInternalName();
        Optional<InnerClassInfo> self = c.findAttribute(Attributes.innerClasses()).stream()
                .flatMap(a -> a.classes().stream())
                .filter(i -> i.innerClass().asInternalName().equals(name))
                .findFirst();
        if (self.isEmpty()) {
            return c.flags().has(AccessFlag.PUBLIC);
        }
        InnerClassInfo i = self.get();
        Set<AccessFlag> flags = i.flags();
        if (!flags.contains(AccessFlag.PUBLIC) && !flags.contains(AccessFlag.PROTECTED)) {
            return false;
        }
        if (i.outerClass().isEmpty()) {
            return false; // local or anonymous class
        }
        ClassModel outerModel = classes.get(i.outerClass().get().asInternalName());
        return outerModel != null && visible(outerModel);
    }

    /** Annotations by descriptor, both retentions (the OSGi ones are CLASS: RuntimeInvisibleAnnotations). */
    private static Map<String, Annotation> annotations(ClassModel c) {
        Map<String, Annotation> out = new HashMap<>();
        c.findAttribute(Attributes.runtimeInvisibleAnnotations())
                .ifPresent(a -> a.annotations().forEach(x -> out.put(x.className().stringValue(), x)));
        c.findAttribute(Attributes.runtimeVisibleAnnotations())
                .ifPresent(a -> a.annotations().forEach(x -> out.put(x.className().stringValue(), x)));
        return out;
    }

    private static boolean isApi(String internalName) {
        return internalName.startsWith(API + "/");
    }

    static String packageOf(String internalName) {
        int slash = internalName.lastIndexOf('/');
        return slash < 0 ? "" : internalName.substring(0, slash);
    }

    static String dotted(String internalName) {
        return internalName.replace('/', '.');
    }

    private static String dotted(ClassModel c) {
        return dotted(c.thisClass().asInternalName());
    }
}
