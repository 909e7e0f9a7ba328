package io.cloister.internal.hostmem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

class HostMemoryTest {
    @Test
    void anonymousMemoryIsZeroAndDiscardZeroesAgain() {
        long before = HostMemory.liveMappings();
        try (HostMemory.Mapping m = HostMemory.anonymous(4 << 20)) {
            assertEquals(before + 1, HostMemory.liveMappings());
            assertEquals(0, m.segment().get(ValueLayout.JAVA_LONG, 8192));
            m.segment().set(ValueLayout.JAVA_LONG, 8192, 42);
            m.segment().set(ValueLayout.JAVA_LONG, 16384, 43);
            m.discard(8192, 4096);
            assertEquals(0, m.segment().get(ValueLayout.JAVA_LONG, 8192));
            assertEquals(43, m.segment().get(ValueLayout.JAVA_LONG, 16384));
        }
        assertEquals(before, HostMemory.liveMappings());
    }

    @Test
    void largeMappingsCostNoHeap() {
        // 8 GiB reserved with MAP_NORESERVE: far more than this JVM's heap, and nothing is touched.
        try (HostMemory.Mapping m = HostMemory.shared(8L << 30)) {
            m.segment().set(ValueLayout.JAVA_BYTE, (8L << 30) - 1, (byte) 7);
            assertEquals(7, m.segment().get(ValueLayout.JAVA_BYTE, (8L << 30) - 1));
        }
    }

    @Test
    void discardOutsideIsRefused() {
        try (HostMemory.Mapping m = HostMemory.anonymous(4096)) {
            assertThrows(IndexOutOfBoundsException.class, () -> m.discard(0, 8192));
        }
    }
}
