package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * Blocks are shared by the bytes they were compiled from, within a domain: two guests running the
 * same code run one class, a guest of another domain (a confidential one) compiles its own, and a
 * shared block computes for each vCPU with that vCPU's registers.
 */
class BlockCacheTest {
    @Test
    void theSameBytesInTwoGuestsOfADomainGiveOneBlock() throws Exception {
        Object domain = new Object();
        try (TestGuest a = new TestGuest("cache-a", 1 << 20, PageState.SHARED);
                TestGuest b = new TestGuest("cache-b", 1 << 20, PageState.SHARED)) {
            Block first = BackgroundCompileTest.compiled(a, domain).install();
            Block second = BackgroundCompileTest.compiled(b, domain).install();
            assertNotNull(first);
            assertSame(first, second);
            Block other = BackgroundCompileTest.compiled(b, new Object()).install();
            assertNotNull(other);
            assertNotSame(first, other, "another domain compiles its own");
        }
    }

    @Test
    void differentBytesAreDifferentBlocks() throws Exception {
        Object domain = new Object();
        try (TestGuest a = new TestGuest("cache-a", 1 << 20, PageState.SHARED)) {
            Block first = BackgroundCompileTest.compiled(a, domain).install();
            a.memory.write(0x1001, MemorySegment.ofArray(new byte[] {2})); // mov eax, 2
            BackgroundCompile c = BackgroundCompile.submit(a.view.guestSegment(a.view.table().slotAt(0).id()), 0x1000, true, domain);
            for (int i = 0; i < 5000 && !c.done(); i++) {
                Thread.sleep(2);
            }
            Block second = c.install();
            assertNotNull(second);
            assertNotSame(first, second);
        }
    }

    /** Two plain guests run the same loop with blocks compiled in the background: the second finds them compiled, and each sums its own. */
    @Test
    void aSharedBlockRunsOnEachVcpusOwnState() throws Exception {
        byte[] code = Code.bytes(
                0x01, 0xc8, // 1000: add eax, ecx
                0xff, 0xc9, // 1002: dec ecx
                0x75, 0xfa, // 1004: jnz 1000
                0xf4); // 1006: hlt
        long[] sums = new long[2];
        long hits = BlockCache.hits();
        for (int vm = 0; vm < 2; vm++) {
            try (TestGuest g = new TestGuest("cache-run", 1 << 20, PageState.SHARED)) {
                g.memory.write(0x1000, MemorySegment.ofArray(code));
                X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0);
                cpu.compileThreshold = 2; // compiled in the background after two runs
                // Long enough for the background compile to finish while it loops, also when the
                // compiler's queue still holds other tests' blocks (200,000 rounds were not, once).
                long n = 2_000_000 + vm;
                cpu.r[X86Vcpu.RCX] = n;
                for (int round = 0; round < 50 && !(cpu.run() instanceof Exit.Halt); round++) {
                    // an exit before the halt (none expected): run on
                }
                assertEquals(0x1007, cpu.rip);
                sums[vm] = cpu.r[X86Vcpu.RAX];
                assertEquals(n * (n + 1) / 2 & 0xffffffffL, sums[vm], cpu.statistics());
                assertTrue(cpu.blocksInstalled > 0, cpu.statistics());
            }
        }
        assertTrue(BlockCache.hits() > hits, "the second guest's block came from the cache");
    }
}
