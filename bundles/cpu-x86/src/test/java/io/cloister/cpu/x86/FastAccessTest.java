package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * Loads and stores go through Memory's fast tables (host addresses of RAM pages) first. Each of
 * the tables' invariants, broken, would let the guest see stale memory or stale code or reach a
 * page its privilege forbids: these tests break each.
 */
class FastAccessTest {
    private static final long FOUR_GIB = 1L << 32;

    private static X86Vcpu longMode(TestGuest g) {
        X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, LongMode.CODE, 0);
        LongMode.enter(cpu, g);
        return cpu;
    }

    /**
     * A store fills a write entry for a page without code; then code in that page is run (decoded)
     * and patched by a store through the same page: the patch must drop the decoded instruction.
     */
    @Test
    void codeDecodedInAPageAlreadyWrittenThroughIsDroppedWhenPatched() throws Exception {
        byte[] code = bytes(
                0xc7, 0x04, 0x25, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 1000: mov dword [0x5000], 0
                0xbe, 0x00, 0x51, 0x00, 0x00, // 100b: mov esi, 0x5100
                0xff, 0xd6, // 1010: call rsi
                0x89, 0xc3, // 1012: mov ebx, eax
                0xc6, 0x04, 0x25, 0x01, 0x51, 0x00, 0x00, 0x02, // 1014: mov byte [0x5101], 2 (the callee's immediate)
                0xff, 0xd6, // 101c: call rsi
                0xf4); // 101e: hlt
        for (int threshold : new int[] {1, Integer.MAX_VALUE}) {
            try (TestGuest g = new TestGuest("fast-smc", 1 << 20, PageState.SHARED)) {
                X86Vcpu cpu = longMode(g);
                cpu.compileThreshold = threshold;
                LongMode.code(g, LongMode.CODE, code);
                LongMode.code(g, 0x5100, bytes(0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3)); // mov eax, 1; ret
                Exit e = cpu.run();
                assertTrue(e instanceof Exit.Halt, e.toString());
                assertEquals(1, cpu.r[X86Vcpu.RBX], "threshold " + threshold);
                assertEquals(2, cpu.r[X86Vcpu.RAX], "the patched callee runs, threshold " + threshold);
            }
        }
    }

    /** INVLPG (and every TLB flush) empties the fast tables: a remapped page is read and written at its new frame. */
    @Test
    void aRemappedPageIsReachedAtItsNewFrameAfterATlbFlush() throws Exception {
        try (TestGuest g = new TestGuest("fast-remap", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = longMode(g);
            LongMode.write(g, LongMode.PDPT + 8 * 4, 0x14003); // 4 GiB: a page directory
            LongMode.write(g, 0x14000, 0x15003); // and a page table
            LongMode.write(g, 0x15000, 0x30003); // whose first page is 0x30000
            LongMode.write(g, 0x30008, 111);
            LongMode.write(g, 0x31008, 222);
            assertEquals(111, cpu.load8(FOUR_GIB + 8, cpu.fastArray(), cpu.fastTables()));
            assertEquals(111, cpu.load8(FOUR_GIB + 8, cpu.fastArray(), cpu.fastTables()), "again, from the fast table");
            cpu.store8(FOUR_GIB + 16, 5, cpu.fastArray(), cpu.fastTables());
            cpu.store8(FOUR_GIB + 16, 6, cpu.fastArray(), cpu.fastTables());
            LongMode.write(g, 0x15000, 0x31003);
            cpu.flushTlb(); // what INVLPG does
            assertEquals(222, cpu.load8(FOUR_GIB + 8, cpu.fastArray(), cpu.fastTables()));
            cpu.store8(FOUR_GIB + 16, 7, cpu.fastArray(), cpu.fastTables());
            assertEquals(6, LongMode.read(g, 0x30010));
            assertEquals(7, LongMode.read(g, 0x31010));
        }
    }

    /**
     * An entry filled at CPL 0 is not one for CPL 3: a user load of a supervisor page faults, in a
     * compiled block (whose loads take the privilege's tables from the block's start) and through
     * the generic path alike.
     */
    @Test
    void aSupervisorPageReadAtCpl0StillFaultsAtCpl3() throws Exception {
        try (TestGuest g = new TestGuest("fast-cpl", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = longMode(g); // the first 4 GiB are supervisor pages
            LongMode.code(g, LongMode.CODE, bytes(0x48, 0x8b, 0x04, 0x25, 0x00, 0x60, 0x00, 0x00, 0xf4)); // mov rax, [0x6000]; hlt
            LongMode.write(g, 0x6000, 42);
            cpu.stepCompiledUncached(1);
            assertEquals(42, cpu.r[X86Vcpu.RAX], "read at CPL 0, filling the supervisor table");
            cpu.cs = 0x2b; // CPL 3
            cpu.rip = LongMode.CODE;
            CpuState.Fault f = assertThrows(CpuState.Fault.class, () -> cpu.stepCompiledUncached(1));
            assertEquals(CpuState.VEC_PF, f.vector);
            assertEquals(LongMode.CODE, cpu.rip, "the block's load faulted");
            assertThrows(CpuState.Fault.class, () -> cpu.rd(0x6000, 8));
            assertThrows(CpuState.Fault.class, () -> cpu.wr(0x6000, 8, 1));
            cpu.cs = 0x08;
            cpu.r[X86Vcpu.RAX] = 0;
            cpu.stepCompiledUncached(1);
            assertEquals(42, cpu.r[X86Vcpu.RAX]);
        }
    }

    /**
     * Write entries skip the check for decoded code, which holds only while the vCPU is the VM's
     * only one: a second vCPU makes the first drop them at its next serializing point, so its stores
     * into code the second decoded tell the second (the code epoch moves).
     */
    @Test
    void aSecondVcpuMakesTheFirstCheckItsStoresForCodeAgain() throws Exception {
        try (TestGuest g = new TestGuest("fast-smp", 1 << 20, PageState.SHARED)) {
            X86Vcpu first = longMode(g);
            first.store8(0x7000, 1, first.fastArray(), first.fastTables()); // fills a write entry: one vCPU, no code in the page
            X86Vcpu second = new X86Vcpu(1, g.view, X86Engine.DEFAULT, CocoCpu.NONE, LongMode.CODE, 0, true, first.codeMap); // the VM's
            assertTrue(first.codeEpochChanged(), "a new vCPU moves the code epoch");
            first.syncCode();
            second.codeMap.mark(7, CodeMap.bits(0, 16)); // the second decodes code at 0x7000
            long epoch = first.codeMap.epoch.get();
            first.store8(0x7000, 2, first.fastArray(), first.fastTables());
            assertTrue(first.codeMap.epoch.get() != epoch, "the first's store into that code moves the epoch");
            assertEquals(2, LongMode.read(g, 0x7000));
        }
    }
}
