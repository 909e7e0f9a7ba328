package io.cloister.internal.hostmem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

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

    /**
     * populateForWrite makes the range resident without touching it: the Rss of the mapping's VMA
     * in /proc/self/smaps (which the kernel may have merged with a neighbour) grows by the range.
     */
    @Test
    void populateForWriteMakesTheRangeResident() throws IOException {
        try (HostMemory.Mapping m = HostMemory.anonymous(16 << 20)) {
            long base = m.segment().address();
            long before = residentKb(base);
            boolean done = HostMemory.populateForWrite(m.segment().asSlice(4096 + 100, (4 << 20) - 200)); // rounded out to pages
            assumeTrue(done, "this kernel has no MADV_POPULATE_WRITE (Linux 5.14): the copy faults pages in itself");
            long grew = residentKb(base) - before;
            assertTrue(grew >= 4096 && grew < 8192, "4 MiB resident after populating 4 MiB, not " + grew + " KiB more");
            assertEquals(0, m.segment().get(ValueLayout.JAVA_LONG, 4096), "populated pages read as zero");
        }
    }

    /** The Rss of the mapping that holds {@code address}, from /proc/self/smaps. */
    private static long residentKb(long address) throws IOException {
        List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (!line.matches("^[0-9a-f]+-[0-9a-f]+ .*")) {
                continue;
            }
            String[] range = line.substring(0, line.indexOf(' ')).split("-");
            if (Long.compareUnsigned(Long.parseUnsignedLong(range[0], 16), address) <= 0
                    && Long.compareUnsigned(address, Long.parseUnsignedLong(range[1], 16)) < 0) {
                for (int j = i + 1; j < lines.size() && !lines.get(j).matches("^[0-9a-f]+-[0-9a-f]+ .*"); j++) {
                    if (lines.get(j).startsWith("Rss:")) {
                        return Long.parseLong(lines.get(j).replaceAll("[^0-9]", ""));
                    }
                }
            }
        }
        throw new AssertionError("no mapping holds 0x" + Long.toHexString(address) + " in /proc/self/smaps");
    }
}
