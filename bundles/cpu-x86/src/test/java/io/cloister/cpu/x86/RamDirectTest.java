package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * Guest RAM from the memory manager (a hostmem mapping, global scope) is reached through Memory's
 * constant host view, the fast path the Linux boot depends on (5 % of its wall time), and it reads
 * and writes the same bytes as the slot's own segment.
 */
class RamDirectTest {
    @Test
    void ramOfTheMemoryManagerIsReachedDirectly() throws Exception {
        try (TestGuest g = new TestGuest("direct", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0);
            cpu.refreshRam();
            assertTrue(cpu.ramDirect, "RAM of the memory manager must take the direct path");
            MemorySegment slot = g.view.guestSegment(g.view.table().slotAt(0).id());
            slot.set(ValueLayout.JAVA_LONG_UNALIGNED, 0x2003, 0x1122334455667788L);
            assertEquals(0x1122334455667788L, cpu.physRead(0x2003, 8));
            assertEquals(0x5566L, cpu.physRead(0x2005, 2)); // little-endian: bytes 66 55
            cpu.physWrite(0x3ffe, 4, 0xdeadbeefL); // the last bytes of a page
            assertEquals(0xdeadbeef, slot.get(ValueLayout.JAVA_INT_UNALIGNED, 0x3ffe));
            cpu.physWrite(0x10, 1, 0x1ab);
            assertEquals((byte) 0xab, slot.get(ValueLayout.JAVA_BYTE, 0x10));
        }
    }
}
