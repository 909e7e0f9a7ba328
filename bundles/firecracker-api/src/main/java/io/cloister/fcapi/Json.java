package io.cloister.fcapi;

import java.io.StringReader;
import java.io.StringWriter;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import jakarta.json.JsonException;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import jakarta.json.JsonString;
import jakarta.json.JsonStructure;
import jakarta.json.JsonValue;
import jakarta.json.spi.JsonProvider;

/**
 * JSON through Parsson, constructed directly: {@code JsonProvider.provider()} looks its provider
 * up with ServiceLoader and the thread's context class loader, which finds nothing in a bundle.
 * Reading a body checks each field by name and type, so every refusal names the field.
 */
final class Json {
    static final JsonProvider PROVIDER = new org.eclipse.parsson.JsonProviderImpl();

    private Json() {
    }

    /** Parses a request body that must be one JSON object. */
    static JsonObject object(String body) {
        if (body == null || body.isBlank()) {
            throw new Fault("the request has no body (a JSON object is expected)");
        }
        JsonStructure s;
        try (var reader = PROVIDER.createReader(new StringReader(body))) {
            s = reader.read();
        } catch (JsonException | IllegalStateException e) {
            throw new Fault("malformed JSON: " + oneLine(e.getMessage()));
        } catch (RuntimeException e) {
            // Parsson asserts on some inputs (see the launcher's feature reader): still bad JSON.
            throw new Fault("malformed JSON: " + oneLine(String.valueOf(e.getMessage())));
        }
        if (!(s instanceof JsonObject o)) {
            throw new Fault("the body is a JSON " + s.getValueType().name().toLowerCase(java.util.Locale.ROOT)
                    + ", not an object");
        }
        return o;
    }

    static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\s+", " ").strip();
    }

    static JsonObjectBuilder builder() {
        return PROVIDER.createObjectBuilder();
    }

    static String write(JsonValue v) {
        StringWriter w = new StringWriter();
        try (var writer = PROVIDER.createWriter(w)) {
            writer.write(v);
        }
        return w.toString();
    }

    static String fault(String message) {
        return write(builder().add("fault_message", message).build());
    }

    /**
     * The fields of one request object, checked: unknown names are refused up front, and each
     * accessor refuses a wrong type naming the field. A JSON null counts as absent, as in serde.
     */
    static final class Fields {
        private final JsonObject o;
        private final String what;

        private Fields(JsonObject o, String what) {
            this.o = o;
            this.what = what;
        }

        static Fields of(JsonObject o, String what, Set<String> known) {
            Set<String> unknown = new TreeSet<>(o.keySet());
            unknown.removeAll(known);
            if (!unknown.isEmpty()) {
                throw new Fault("unknown field" + (unknown.size() == 1 ? " '" : "s '") + String.join("', '", unknown) + "' in "
                        + what + " (known: " + String.join(", ", new TreeSet<>(known)) + ")");
            }
            return new Fields(o, what);
        }

        boolean has(String name) {
            return o.containsKey(name) && o.get(name).getValueType() != JsonValue.ValueType.NULL;
        }

        private JsonValue require(String name) {
            if (!has(name)) {
                throw new Fault(what + ": missing required field '" + name + "'");
            }
            return o.get(name);
        }

        private Fault wrongType(String name, String expected) {
            return new Fault(what + ": field '" + name + "' must be " + expected + ", not " + Json.write(o.get(name)));
        }

        String string(String name, String def) {
            if (!has(name)) {
                return def;
            }
            if (o.get(name) instanceof JsonString s) {
                return s.getString();
            }
            throw wrongType(name, "a string");
        }

        String requiredString(String name) {
            require(name);
            return string(name, null);
        }

        boolean bool(String name, boolean def) {
            if (!has(name)) {
                return def;
            }
            return switch (o.get(name).getValueType()) {
                case TRUE -> true;
                case FALSE -> false;
                default -> throw wrongType(name, "true or false");
            };
        }

        /** An unsigned integer that fits a long (Firecracker's u8/u32/usize fields). */
        long unsigned(String name, long def) {
            if (!has(name)) {
                return def;
            }
            if (o.get(name) instanceof JsonNumber n && n.isIntegral()) {
                try {
                    long v = n.bigIntegerValueExact().longValueExact();
                    if (v >= 0) {
                        return v;
                    }
                } catch (ArithmeticException e) {
                    // too large: refused below
                }
            }
            throw wrongType(name, "an unsigned integer");
        }

        long requiredUnsigned(String name) {
            require(name);
            return unsigned(name, 0);
        }

        /** One of {@code values} (compared as given, or ignoring case), returned as spelled in {@code values}. */
        String oneOf(String name, String def, boolean ignoreCase, String... values) {
            String v = string(name, def);
            if (v == null) {
                return null;
            }
            for (String allowed : values) {
                if (ignoreCase ? allowed.equalsIgnoreCase(v) : allowed.equals(v)) {
                    return allowed;
                }
            }
            throw new Fault(what + ": field '" + name + "' must be one of " + String.join(", ", values) + ", not '" + v + "'");
        }

        Map<String, JsonValue> raw() {
            return o;
        }
    }
}
