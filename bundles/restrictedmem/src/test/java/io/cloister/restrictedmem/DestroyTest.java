package io.cloister.restrictedmem;

import static io.cloister.api.memory.Pages.SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.restricted.Binding;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;

/**
 * A conversion with {@link ContentRule#DESTROY} leaves no byte of the old content, whatever the
 * size of the range and whichever way the guest wrote it: through the binding's segment (the CPU
 * engines' fast path, which no bookkeeping sees) or through {@code guest().write}.
 */
class DestroyTest {
    static final long SECRET = 0x5ec2e7_5ec2e7L;
    static final long GPA = 0x100000;

    enum Path { SEGMENT, GUEST_WRITE }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 15, 16, 17, 100})
    void destroyedThroughTheSegment(int pages) {
        check(pages, Path.SEGMENT);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 15, 16, 17, 100})
    void destroyedThroughGuestWrite(int pages) {
        check(pages, Path.GUEST_WRITE);
    }

    private static void check(int pages, Path path) {
        RestrictedMemory provider = new RestrictedMemory();
        // A margin of two pages each side: they keep their content, so the test also sees that
        // the destruction stays inside the range.
        long fileSize = (pages + 4) * SIZE;
        RestrictedFile f = provider.create("vm", fileSize, PageState.PRIVATE);
        Binding b = f.bind("vm", 0, 0, GPA, fileSize, null);
        try {
            for (long off = 0; off < fileSize; off += SIZE) {
                write(b, GPA + off, SECRET ^ off, path);
                write(b, GPA + off + SIZE - 8, SECRET ^ off, path); // first and last word of each page
            }
            f.convert(2 * SIZE, pages * SIZE, PageState.SHARED, ContentRule.DESTROY);

            MemorySegment seen = Arena.ofAuto().allocate(pages * SIZE);
            seen.fill((byte) 0x55);
            f.hostRead(2 * SIZE, seen); // what a device's DMA read gets
            long nonZero = 0;
            for (long i = 0; i < seen.byteSize(); i += 8) {
                nonZero += seen.get(ValueLayout.JAVA_LONG_UNALIGNED, i) != 0 ? 1 : 0;
            }
            assertEquals(0, nonZero, pages + " page(s) converted after writes through " + path
                    + ": words of the old content survived");
            f.convert(2 * SIZE, pages * SIZE, PageState.PRIVATE, ContentRule.DESTROY);
            MemorySegment word = Arena.ofAuto().allocate(8);
            for (long off : new long[] {SIZE, (pages + 2) * SIZE}) {
                assertTrue(b.guest().read(GPA + off, word, PageState.PRIVATE));
                assertEquals(SECRET ^ off, word.get(ValueLayout.JAVA_LONG, 0), "the page at 0x" + Long.toHexString(off)
                        + " outside the converted range keeps its content");
            }
        } finally {
            b.unbind();
            f.close();
        }
    }

    private static void write(Binding b, long gpa, long value, Path path) {
        if (path == Path.SEGMENT) {
            b.guestSegment().set(ValueLayout.JAVA_LONG_UNALIGNED, gpa - b.gpa(), value);
        } else {
            MemorySegment src = Arena.ofAuto().allocate(8);
            src.set(ValueLayout.JAVA_LONG, 0, value);
            assertTrue(b.guest().write(gpa, src, PageState.PRIVATE));
        }
    }
}
