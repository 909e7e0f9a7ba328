package io.cloister.distribution;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;

/**
 * Calls into bundle classes from the test's class space (which shares no Cloister classes with
 * the framework): by method name and argument count.
 */
final class Reflect {
    private Reflect() {
    }

    static Object call(Object target, String name, Object... args) {
        for (Class<?> c = target.getClass(); c != null; c = c.getSuperclass()) {
            for (Method m : c.getDeclaredMethods()) {
                if (m.getName().equals(name) && m.getParameterCount() == args.length) {
                    try {
                        m.setAccessible(true);
                        return m.invoke(target, args);
                    } catch (InvocationTargetException e) {
                        if (e.getCause() instanceof RuntimeException r) {
                            throw r;
                        }
                        throw new IllegalStateException(e.getCause());
                    } catch (IllegalAccessException e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        }
        throw new IllegalArgumentException("no method " + name + "/" + args.length + " on " + target.getClass());
    }

    static Object construct(Class<?> type, Object... args) {
        try {
            for (var c : type.getConstructors()) {
                if (c.getParameterCount() == args.length) {
                    return c.newInstance(args);
                }
            }
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
        throw new IllegalArgumentException("no constructor/" + args.length + " on " + type);
    }

    /** The errno name of a CloisterException thrown by a bundle, or null for anything else. */
    static String errno(RuntimeException e) {
        if (!e.getClass().getName().equals("io.cloister.api.CloisterException")) {
            return null;
        }
        return String.valueOf(call(e, "errno"));
    }
}
