package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * Blocks compiled on the compiler thread are installed only while RAM still holds the bytes they
 * were compiled from; a guest that rewrites its code while its block compiles runs what it wrote.
 * GuestsTest runs whole guests with blocks installed in the background at whatever run they arrive.
 */
class BackgroundCompileTest {
    private static final byte[] CODE = bytes(
            0xb8, 0x01, 0x00, 0x00, 0x00, // 1000: mov eax, 1
            0x01, 0xd8, // 1005: add eax, ebx
            0xc3, // 1007: ret
            0x90, 0x90); // 1008: not the block's

    private static BackgroundCompile compiled(TestGuest g) throws InterruptedException {
        return compiled(g, new Object()); // a domain of its own: compiled here, not found in the cache
    }

    static BackgroundCompile compiled(TestGuest g, Object domain) throws InterruptedException {
        g.memory.write(0x1000, MemorySegment.ofArray(CODE));
        BackgroundCompile c = BackgroundCompile.submit(g.view.guestSegment(g.view.table().slotAt(0).id()), 0x1000, true, domain);
        assertNotNull(c);
        for (int i = 0; i < 5000 && !c.done(); i++) {
            Thread.sleep(2);
        }
        assertTrue(c.done(), "compiled within 10 s");
        return c;
    }

    @Test
    void aBlockIsInstalledWhileItsBytesAreUnchanged() throws Exception {
        try (TestGuest g = new TestGuest("bg", 1 << 20, PageState.SHARED)) {
            BackgroundCompile c = compiled(g);
            assertEquals(8, c.length());
            g.memory.write(0x1008, MemorySegment.ofArray(bytes(0xcc))); // after the block
            assertNotNull(c.install());
        }
    }

    @Test
    void aBlockWhoseBytesChangedIsNotInstalled() throws Exception {
        try (TestGuest g = new TestGuest("bg", 1 << 20, PageState.SHARED)) {
            BackgroundCompile c = compiled(g);
            g.memory.write(0x1006, MemorySegment.ofArray(bytes(0xc8))); // add eax, ecx: the ADD's ModRM
            assertNull(c.install());
            g.memory.write(0x1006, MemorySegment.ofArray(bytes(0xd8))); // as compiled again
            assertNotNull(c.install());
        }
    }

    /**
     * A loop that rewrites an immediate in its own block on every iteration (CompiledBlockTest's),
     * with blocks compiled in the background after two runs: every iteration sees the last store,
     * whether it ran decoded, compiled or while its block was being compiled.
     */
    @Test
    void selfModifyingCodeIsSeenWhileBlocksCompileInTheBackground() throws Exception {
        byte[] code = CompiledBlockTest.SELF_MODIFYING_LOOP;
        try (TestGuest g = new TestGuest("smc", 1 << 20, PageState.SHARED)) {
            g.memory.write(0x1000, MemorySegment.ofArray(code));
            X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0, true);
            cpu.compileThreshold = 2;
            Exit e = cpu.run();
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(500_499L, cpu.r[X86Vcpu.RDX]); // 1000 + 999 + ... + 2, as the interpreter
            assertEquals(1 + 5 * 1000 + 1, cpu.instructions());
        }
    }
}
