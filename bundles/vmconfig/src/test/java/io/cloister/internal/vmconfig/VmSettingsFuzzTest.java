package io.cloister.internal.vmconfig;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Timeout;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * A VM configuration comes from a feature file or ConfigAdmin, that is from whoever wrote them:
 * for every set of properties (known and unknown keys; strings, numbers, booleans, arrays, as the
 * feature format's typed values give them), {@link VmSettings#of} gives settings that keep their
 * documented bounds or an IllegalArgumentException with a one-line message. Anything else (another
 * exception, a message with a line break a user's value smuggled in, settings out of bounds) is a
 * finding.
 */
class VmSettingsFuzzTest {
    private static final List<String> KEYS = List.copyOf(new java.util.TreeSet<>(VmSettings.KEYS));

    @FuzzTest(maxDuration = "15s")
    @Timeout(5)
    void of(FuzzedDataProvider data) {
        Map<String, Object> properties = new LinkedHashMap<>();
        int n = data.consumeInt(0, 12);
        for (int i = 0; i < n; i++) {
            String key = data.consumeBoolean() ? KEYS.get(data.consumeInt(0, KEYS.size() - 1)) : data.consumeString(16);
            properties.put(key, value(data));
        }
        VmSettings s;
        try {
            s = VmSettings.of(properties);
        } catch (IllegalArgumentException e) {
            String m = e.getMessage();
            assertTrue(m != null && !m.isBlank() && m.lines().count() == 1 && !m.contains("\r"), "not a one-line message: " + m);
            return;
        }
        assertTrue(s.memory() > 0 && (s.memory() & 0xfff) == 0 && s.memory() <= VmSettings.maxMemory(), "memory " + s.memory());
        assertTrue(s.vcpus() >= 1 && s.vcpus() <= VmSettings.MAX_VCPUS, "vcpus " + s.vcpus());
        assertTrue(s.cmdline().length() <= VmSettings.MAX_CMDLINE, "cmdline length " + s.cmdline().length());
        assertTrue(s.name().matches("[A-Za-z0-9][A-Za-z0-9._-]{0,63}"), "name " + s.name());
        assertTrue(s.console().equals("stdout") || s.console().startsWith("file:") || s.console().startsWith("tcp:"), s.console());
        if (s.console().startsWith("tcp:")) {
            int port = VmSettings.tcpPort("VM " + s.name() + ": ", s.console());
            assertTrue(port >= 1 && port <= 65535, "port " + port);
        }
        assertEquals(List.of(), VmSettings.duplicates(List.of(s)));
    }

    /** A value of one of the types a feature file's configuration can hold. */
    private static Object value(FuzzedDataProvider data) {
        return switch (data.consumeInt(0, 7)) {
            case 0 -> data.consumeString(64);
            case 1 -> data.consumeInt();
            case 2 -> data.consumeLong();
            case 3 -> data.consumeBoolean();
            case 4 -> data.consumeDouble();
            case 5 -> sizeLike(data);
            case 6 -> {
                List<String> list = new ArrayList<>();
                for (int i = data.consumeInt(0, 3); i > 0; i--) {
                    list.add(data.consumeString(8));
                }
                yield list.toArray(String[]::new);
            }
            default -> data.pickValue(List.of("stdout", "file:", "file:/", "tcp:", "tcp:0", "tcp:host:65536", "tcp::1", "64M",
                    "0", "-4K", "9223372036854775807", "true", "FALSE", " 2 "));
        };
    }

    /** A number with a size suffix, so mutations reach memory's limits rather than its syntax. */
    private static String sizeLike(FuzzedDataProvider data) {
        return data.consumeLong() + data.pickValue(List.of("", "K", "M", "G", "k", " M", "T"));
    }
}
