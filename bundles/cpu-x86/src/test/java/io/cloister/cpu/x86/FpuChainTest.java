package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * The x87/SSE classes sit in the middle of X86Vcpu's chain of classes, where a package-private
 * method with the name and parameters of one below silently overrides it: an x87 push(long, int)
 * once replaced the stack's push for every instruction. No method of FpuInsns, X87Insns, X87Arith,
 * X87Special, SseFloat or SseInsns may override one of the classes below them, except the abstract
 * hooks they declare for each other.
 */
class FpuChainTest {
    @Test
    void fpuClassesOverrideNothingBelowThem() {
        List<Class<?>> own = List.of(FpuInsns.class, X87Insns.class, X87Arith.class, X87Special.class, SseFloat.class, SseInsns.class);
        List<String> overrides = new ArrayList<>();
        for (Class<?> c : own) {
            for (Method m : c.getDeclaredMethods()) {
                if (Modifier.isStatic(m.getModifiers()) || m.isSynthetic()) {
                    continue;
                }
                for (Class<?> below = c.getSuperclass(); below != Object.class; below = below.getSuperclass()) {
                    try {
                        Method base = below.getDeclaredMethod(m.getName(), m.getParameterTypes());
                        boolean hook = Modifier.isAbstract(base.getModifiers()) && own.contains(below);
                        if (!hook && !Modifier.isPrivate(base.getModifiers())) {
                            overrides.add(c.getSimpleName() + "." + m.getName() + Arrays.toString(m.getParameterTypes()) + " overrides "
                                    + below.getSimpleName());
                        }
                    } catch (NoSuchMethodException e) {
                        // not declared there
                    }
                }
            }
        }
        assertEquals(List.of(), overrides);
    }
}
