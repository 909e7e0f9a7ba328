package io.cloister.distribution;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Proxy;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;

/**
 * Typed access to objects of the running framework from the test's class space.
 *
 * <p>Why reflection at all: the framework loads the API bundle's classes with that bundle's own
 * class loader, and its objects implement those, while the tests see the API classes of the
 * cloister-api jar on their class path. A cast from one to the other fails although the names are
 * the same (and sharing the test's copy with the bundles would test another wiring). The
 * bridge makes a proxy of the test's interface that calls the method of the same name and
 * parameter types on the framework's object, and carries values across: enums by name, records
 * by their components, API interfaces as further bridges, {@link CloisterException} with its
 * errno. This class is the only place that knows; the tests use the API's types.
 */
final class Bridge {
    private Bridge() {
    }

    /** {@code target} (a framework object) seen as the test's {@code type}. */
    static <T> T as(Class<T> type, Object target) {
        if (target == null) {
            return null;
        }
        return type.cast(Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, new Handler(target)));
    }

    /** The framework's object behind a bridge, e.g. to see it as another type. */
    static Object target(Object bridge) {
        return ((Handler) Proxy.getInvocationHandler(bridge)).target;
    }

    private record Handler(Object target) implements InvocationHandler {
        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            if (method.getDeclaringClass() == Object.class) {
                return switch (method.getName()) {
                    case "equals" -> proxy == args[0];
                    case "hashCode" -> System.identityHashCode(proxy);
                    default -> "bridge to " + target;
                };
            }
            Method m = find(target, method);
            Object[] theirs = new Object[args == null ? 0 : args.length];
            for (int i = 0; i < theirs.length; i++) {
                theirs[i] = toTheirs(args[i], m.getParameterTypes()[i]);
            }
            try {
                return toOurs(m.invoke(target, theirs), method.getGenericReturnType());
            } catch (InvocationTargetException e) {
                throw toOurs(e.getCause());
            }
        }
    }

    /**
     * The framework's method for ours: on a public interface of the same name if the target
     * implements one (its class may be private to its bundle), else declared on its class (the
     * few package-private methods these tests reach inside the vmm bundle).
     */
    private static Method find(Object target, Method ours) throws NoSuchMethodException {
        java.util.ArrayDeque<Class<?>> todo = new java.util.ArrayDeque<>();
        for (Class<?> c = target.getClass(); c != null; c = c.getSuperclass()) {
            todo.addAll(List.of(c.getInterfaces()));
        }
        while (!todo.isEmpty()) {
            Class<?> i = todo.remove();
            if (i.getName().equals(ours.getDeclaringClass().getName())) {
                Method m = matching(i.getMethods(), ours);
                if (m != null) {
                    return m;
                }
            }
            todo.addAll(List.of(i.getInterfaces()));
        }
        for (Class<?> c = target.getClass(); c != null; c = c.getSuperclass()) {
            Method m = matching(c.getDeclaredMethods(), ours);
            if (m != null) {
                m.setAccessible(true);
                return m;
            }
        }
        throw new NoSuchMethodException(ours.getName() + " on " + target.getClass());
    }

    private static Method matching(Method[] candidates, Method ours) {
        for (Method m : candidates) {
            if (m.getName().equals(ours.getName()) && Arrays.equals(names(m.getParameterTypes()), names(ours.getParameterTypes()))) {
                return m;
            }
        }
        return null;
    }

    private static String[] names(Class<?>[] types) {
        return Arrays.stream(types).map(Class::getName).toArray(String[]::new);
    }

    /** Our value as the framework's type {@code theirs}. */
    private static Object toTheirs(Object value, Class<?> theirs) throws ReflectiveOperationException {
        if (value == null || theirs.isPrimitive() || theirs.isInstance(value)) {
            return value;
        }
        if (value instanceof Enum<?> e && theirs.isEnum()) {
            return theirs.getField(e.name()).get(null);
        }
        Class<?> type = theirs.isInterface() ? theirs.getClassLoader().loadClass(value.getClass().getName()) : theirs;
        if (value instanceof Record r && type.isRecord()) {
            RecordComponent[] ours = r.getClass().getRecordComponents();
            RecordComponent[] their = type.getRecordComponents();
            Object[] args = new Object[ours.length];
            Class<?>[] types = new Class<?>[ours.length];
            for (int i = 0; i < ours.length; i++) {
                types[i] = their[i].getType();
                args[i] = toTheirs(ours[i].getAccessor().invoke(r), types[i]);
            }
            return type.getDeclaredConstructor(types).newInstance(args);
        }
        throw new IllegalArgumentException("cannot carry " + value.getClass() + " to the framework's " + theirs);
    }

    /** The framework's value as our {@code type}. */
    private static Object toOurs(Object value, Type type) throws ReflectiveOperationException {
        Class<?> ours = raw(type);
        if (value == null || ours.isPrimitive() || ours.isInstance(value)) {
            if (value instanceof Optional<?> o && type instanceof ParameterizedType p) {
                return o.map(v -> unchecked(v, p.getActualTypeArguments()[0]));
            }
            if (value instanceof List<?> l && type instanceof ParameterizedType p) {
                return l.stream().map(v -> unchecked(v, p.getActualTypeArguments()[0])).toList();
            }
            return value;
        }
        if (ours.isEnum()) {
            return ours.getField(((Enum<?>) value).name()).get(null);
        }
        if (ours.isInterface()) {
            return as(ours, value);
        }
        throw new IllegalArgumentException("cannot carry the framework's " + value.getClass() + " as " + ours);
    }

    private static Object unchecked(Object value, Type type) {
        try {
            return toOurs(value, type);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Class<?> raw(Type type) {
        return type instanceof ParameterizedType p ? (Class<?>) p.getRawType() : (Class<?>) type;
    }

    /** An exception the framework's object threw, as ours: a CloisterException keeps its errno and message. */
    private static Throwable toOurs(Throwable e) {
        if (e.getClass().getName().equals(CloisterException.class.getName())) {
            try {
                Object errno = e.getClass().getMethod("errno").invoke(e);
                String message = e.getMessage();
                String prefix = errno + ": ";
                return new CloisterException(Errno.valueOf(String.valueOf(errno)),
                        message.startsWith(prefix) ? message.substring(prefix.length()) : message);
            } catch (ReflectiveOperationException r) {
                return e;
            }
        }
        return e;
    }
}
