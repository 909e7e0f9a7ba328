package io.cloister.launcher;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;

import org.osgi.service.feature.Feature;
import org.osgi.service.feature.FeatureBundle;
import org.osgi.service.feature.FeatureConfiguration;
import org.osgi.service.feature.FeatureExtension;
import org.osgi.service.feature.FeatureService;

import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;

/** Reads an OSGi Feature JSON file with the Felix implementation of the Feature Service. */
public final class FeatureFile {
    /** Framework properties, as in the Feature Launcher specification. */
    static final String LAUNCH_PROPERTIES = "framework-launching-properties";
    /** Bundle metadata key giving the start order; lower starts first. */
    static final String START_ORDER = "start-order";

    private FeatureFile() {
    }

    public static Deployment read(Path file, BundleLocator locator) throws LaunchException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new LaunchException(LaunchException.CONFIG, "feature file " + file + " not found");
        } catch (IOException e) {
            throw new LaunchException(LaunchException.CONFIG, "feature file " + file + " cannot be read: " + e.getMessage(), e);
        }
        Feature feature = parse(file, text);

        List<Deployment.BundleJar> bundles = new ArrayList<>();
        for (FeatureBundle b : feature.getBundles()) {
            int order = startOrder(file, b);
            bundles.add(new Deployment.BundleJar(b.getID().toString(), locator.locate(b.getID()), order));
        }
        // Stable sort: bundles without a start order keep the feature's order after the ordered ones.
        bundles.sort(Comparator.comparingInt(b -> b.startOrder() == 0 ? Integer.MAX_VALUE : b.startOrder()));

        List<Deployment.Configuration> configs = new ArrayList<>();
        for (FeatureConfiguration c : feature.getConfigurations().values()) {
            String factory = c.getFactoryPid().orElse(null);
            String name = factory == null ? null : c.getPid().substring(c.getPid().indexOf('~') + 1);
            configs.add(new Deployment.Configuration(c.getPid(), factory, name, new LinkedHashMap<>(c.getValues())));
        }
        return new Deployment(feature.getID().toString(), file, List.copyOf(bundles), List.copyOf(configs),
                launchProperties(file, feature));
    }

    private static Feature parse(Path file, String text) throws LaunchException {
        FeatureService service = ServiceLoader.load(FeatureService.class, FeatureFile.class.getClassLoader())
                .findFirst()
                .orElseThrow(() -> new LaunchException(LaunchException.RUNTIME,
                        "no OSGi Feature Service implementation on the class path (org.apache.felix.feature missing)"));
        try (Reader reader = new StringReader(text)) {
            return service.readFeature(reader);
        } catch (NullPointerException | ClassCastException e) {
            // Felix's reader dereferences the members it expects without checking them: its
            // message would be a JVM text about getJsonString() returning null.
            throw new LaunchException(LaunchException.CONFIG, "feature file " + file + " is malformed: " + diagnose(text, true), e);
        } catch (IOException | RuntimeException e) {
            throw new LaunchException(LaunchException.CONFIG, "feature file " + file + " is malformed: " + oneLine(e), e);
        } catch (AssertionError e) {
            // Felix strips comments with a reader that, on a '/' starting no comment, breaks the
            // Reader contract Parsson asserts: with assertions on (tests, -ea) an AssertionError,
            // without them Parsson's own message. Either way the file is malformed; a plain JSON
            // reading says where.
            throw new LaunchException(LaunchException.CONFIG, "feature file " + file + " is malformed: " + diagnose(text, false), e);
        }
    }

    /**
     * Why Felix's reader refused {@code text}, as far as one plain JSON reading tells: Parsson's
     * message if it is no JSON at all, else the member the feature format needs that is missing or
     * of the wrong type. {@code membersWrong}: Felix got past the syntax and failed on a member.
     */
    static String diagnose(String text, boolean membersWrong) {
        JsonValue value;
        try (JsonReader reader = Json.createReader(new StringReader(text))) {
            value = reader.readValue();
        } catch (RuntimeException notPlainJson) {
            // Felix also takes comments: with them a plain reading cannot tell which member it is.
            return membersWrong ? MEMBER_WRONG : oneLine(notPlainJson);
        }
        if (!(value instanceof JsonObject feature)) {
            return "not a JSON object";
        }
        if (!(feature.get("id") instanceof JsonString)) {
            return "\"id\" is missing or not a string";
        }
        if (feature.get("bundles") instanceof JsonArray bundles) {
            for (int i = 0; i < bundles.size(); i++) {
                JsonValue b = bundles.get(i);
                if (!(b instanceof JsonString) && !(b instanceof JsonObject o && o.get("id") instanceof JsonString)) {
                    return "bundle " + (i + 1) + " has no \"id\" string";
                }
            }
        } else if (feature.containsKey("bundles")) {
            return "\"bundles\" is not an array";
        }
        for (String member : List.of("configurations", "extensions", "variables")) {
            if (feature.containsKey(member) && !(feature.get(member) instanceof JsonObject)) {
                return "\"" + member + "\" is not an object";
            }
        }
        return MEMBER_WRONG;
    }

    private static final String MEMBER_WRONG = "a member the feature format requires is missing or has the wrong type";

    private static int startOrder(Path file, FeatureBundle bundle) throws LaunchException {
        Object value = bundle.getMetadata().get(START_ORDER);
        if (value == null) {
            return 0;
        }
        try {
            int order = Integer.parseInt(value.toString().trim());
            if (order < 1) {
                throw new NumberFormatException("must be at least 1");
            }
            return order;
        } catch (NumberFormatException e) {
            throw new LaunchException(LaunchException.CONFIG, "feature file " + file + ": bundle " + bundle.getID()
                    + " has a bad " + START_ORDER + " '" + oneLine(value.toString()) + "' (" + oneLine(e.getMessage()) + ")");
        }
    }

    private static Map<String, String> launchProperties(Path file, Feature feature) throws LaunchException {
        FeatureExtension ext = feature.getExtensions().get(LAUNCH_PROPERTIES);
        if (ext == null) {
            return Map.of();
        }
        if (ext.getType() != FeatureExtension.Type.JSON) {
            throw new LaunchException(LaunchException.CONFIG, "feature file " + file + ": extension " + LAUNCH_PROPERTIES
                    + " must be of type json");
        }
        Map<String, String> props = new LinkedHashMap<>();
        try (JsonReader reader = Json.createReader(new StringReader(ext.getJSON()))) {
            JsonObject obj = reader.readObject();
            for (Map.Entry<String, JsonValue> e : obj.entrySet()) {
                JsonValue v = e.getValue();
                props.put(e.getKey(), v instanceof JsonString s ? s.getString() : v.toString());
            }
        } catch (RuntimeException e) {
            throw new LaunchException(LaunchException.CONFIG, "feature file " + file + ": extension " + LAUNCH_PROPERTIES
                    + " is not a JSON object: " + oneLine(e), e);
        }
        return props;
    }

    static String oneLine(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && (t.getMessage() == null || t.getMessage().isBlank())) {
            t = t.getCause();
        }
        return oneLine(t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage());
    }

    /** {@code text} on one line: a value from the file may hold line breaks. */
    static String oneLine(String text) {
        return text.replaceAll("\\s+", " ").trim();
    }
}
