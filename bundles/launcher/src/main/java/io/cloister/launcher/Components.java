package io.cloister.launcher;

import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

import org.osgi.framework.Bundle;

/**
 * Reads Declarative Services state through ServiceComponentRuntime. SCR's API lives in a bundle's
 * class space, so its DTOs (plain public fields) are read reflectively.
 */
public final class Components {
    static final String SCR = "org.osgi.service.component.runtime.ServiceComponentRuntime";

    /** A component configuration and its state; {@code unsatisfied} names missing references. */
    public record State(String component, String bundle, String state, List<String> unsatisfied) {
    }

    private Components() {
    }

    public static List<State> states(VmmRuntime runtime) {
        Object scr;
        try {
            scr = runtime.awaitService("(objectClass=" + SCR + ")", 2_000);
        } catch (LaunchException e) {
            return List.of();
        }
        if (scr == null) {
            return List.of();
        }
        List<State> states = new ArrayList<>();
        try {
            Class<?> api = api(scr.getClass());
            Collection<?> descriptions = (Collection<?>) api.getMethod("getComponentDescriptionDTOs", Bundle[].class)
                    .invoke(scr, (Object) new Bundle[0]);
            for (Object desc : descriptions) {
                String name = (String) field(desc, "name");
                Object bundleDto = field(desc, "bundle");
                String bsn = (String) field(bundleDto, "symbolicName");
                Collection<?> configs = (Collection<?>) api.getMethod("getComponentConfigurationDTOs", desc.getClass())
                        .invoke(scr, desc);
                if (configs.isEmpty()) {
                    // Disabled, or waiting for a (factory) configuration it requires.
                    states.add(new State(name, bsn, "NOT_CONFIGURED", List.of()));
                }
                for (Object cfg : configs) {
                    int state = (Integer) field(cfg, "state");
                    List<String> missing = new ArrayList<>();
                    Object refs = field(cfg, "unsatisfiedReferences");
                    for (int i = 0; refs != null && i < Array.getLength(refs); i++) {
                        Object ref = Array.get(refs, i);
                        missing.add(field(ref, "name") + (field(ref, "target") == null ? "" : " " + field(ref, "target")));
                    }
                    states.add(new State(name, bsn, stateName(state), List.copyOf(missing)));
                }
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("cannot read component states: " + e, e);
        }
        return states;
    }

    /** One line naming what is not active and why, for error messages. */
    public static String describeUnsatisfied(VmmRuntime runtime) {
        List<String> parts = new ArrayList<>();
        for (Bundle b : runtime.bundles()) {
            if (b.getState() != Bundle.ACTIVE && b.getHeaders().get("Fragment-Host") == null) {
                parts.add("bundle " + b.getSymbolicName() + " is not active");
            }
        }
        for (State s : states(runtime)) {
            if (!s.state().equals("ACTIVE") && !s.state().equals("SATISFIED") && !s.state().equals("NOT_CONFIGURED")) {
                parts.add("component " + s.component() + " is " + s.state()
                        + (s.unsatisfied().isEmpty() ? "" : " (missing " + String.join(", ", s.unsatisfied()) + ")"));
            }
        }
        return parts.isEmpty() ? "all components are active" : String.join("; ", parts);
    }

    private static Class<?> api(Class<?> impl) {
        for (Class<?> c = impl; c != null; c = c.getSuperclass()) {
            for (Class<?> i : c.getInterfaces()) {
                if (i.getName().equals(SCR)) {
                    return i;
                }
            }
        }
        throw new IllegalStateException(impl + " is not a " + SCR);
    }

    private static Object field(Object dto, String name) throws ReflectiveOperationException {
        Field f = dto.getClass().getField(name);
        return f.get(dto);
    }

    static String stateName(int state) {
        return switch (state) {
            case 1 -> "UNSATISFIED_CONFIGURATION";
            case 2 -> "UNSATISFIED_REFERENCE";
            case 4 -> "SATISFIED";
            case 8 -> "ACTIVE";
            case 16 -> "FAILED_ACTIVATION";
            default -> "STATE_" + state;
        };
    }
}
