package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static io.cloister.cpu.x86.Code.join;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * Global pages (CPUID.1:EDX.PGE, CR4.PGE): a CR3 write keeps the TLB's entries of pages mapped
 * with G and drops the others; a CR4 write drops them all. Seen here through page tables taken
 * away in memory before the CR3 write: a kept entry still translates, a dropped one faults. Each
 * case interpreted, decoded and compiled.
 */
class GlobalPagesTest {
    /** Linear 512 GiB: a 1 GiB page at physical 0 with G set (PML4[1]); 1 TiB: the same without G (PML4[2]). */
    private static final long GLOBAL = 1L << 39, LOCAL = 2L << 39;
    private static final long GLOBAL_PDPT = 0x14000, LOCAL_PDPT = 0x15000;
    private static final long DATA = 0x30000, LOCAL_DATA = 0x31000; // different TLB slots

    private static byte[] imm64(int opcode, long v) {
        byte[] b = new byte[10];
        b[0] = 0x48;
        b[1] = (byte) opcode;
        for (int i = 0; i < 8; i++) {
            b[2 + i] = (byte) (v >>> (8 * i));
        }
        return b;
    }

    /** Reads through both mappings, takes both away in memory, writes CR3 (and CR4 if asked), reads through both again. */
    private static Exit run(DeviceAccessTest.Machine m, boolean pge, boolean cr4Write) {
        LongMode.write(m.g, LongMode.PML4 + 8, GLOBAL_PDPT | 3);
        LongMode.write(m.g, LongMode.PML4 + 16, LOCAL_PDPT | 3);
        LongMode.write(m.g, GLOBAL_PDPT, 0x183); // present, writable, 1 GiB, global
        LongMode.write(m.g, LOCAL_PDPT, 0x83);
        LongMode.write(m.g, DATA, 0x1111);
        LongMode.write(m.g, LOCAL_DATA, 0x2222);
        LongMode.code(m.g, LongMode.CODE, join(
                imm64(0xb8, GLOBAL + DATA), // mov rax, GLOBAL + DATA
                bytes(0x48, 0x8b, 0x18), // mov rbx, [rax]
                imm64(0xb9, LOCAL + LOCAL_DATA), // mov rcx, LOCAL + LOCAL_DATA
                bytes(0x48, 0x8b, 0x11), // mov rdx, [rcx]
                bytes(0x48, 0xc7, 0x04, 0x25, 0x00, 0x40, 0x01, 0x00, 0, 0, 0, 0), // mov qword [0x14000], 0
                bytes(0x48, 0xc7, 0x04, 0x25, 0x00, 0x50, 0x01, 0x00, 0, 0, 0, 0), // mov qword [0x15000], 0
                bytes(0x48, 0x31, 0xdb, 0x48, 0x31, 0xd2), // xor rbx, rbx; xor rdx, rdx
                bytes(0x0f, 0x20, 0xde, 0x0f, 0x22, 0xde), // mov rsi, cr3; mov cr3, rsi
                cr4Write ? bytes(0x0f, 0x20, 0xe6, 0x0f, 0x22, 0xe6) : bytes(), // mov rsi, cr4; mov cr4, rsi
                bytes(0x48, 0x8b, 0x18), // mov rbx, [rax]
                bytes(0x48, 0x8b, 0x11), // mov rdx, [rcx]
                bytes(0xf4)));
        if (pge) {
            m.cpu.cr4 |= X86Vcpu.CR4_PGE;
        }
        return m.run(gpa -> -1);
    }

    /** Runs the case and checks where the page fault came: RBX as the second read through the global page left it, CR2 the address that faulted. */
    private static void faultsAfter(String mode, boolean pge, boolean cr4Write, long rbx, long cr2) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            Exit e = run(m, pge, cr4Write);
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(LongMode.handler(X86Vcpu.VEC_PF) + 1, m.cpu.rip, "a read through a dropped entry faults");
            assertEquals(rbx, m.cpu.r[X86Vcpu.RBX]);
            assertEquals(cr2, m.cpu.cr2);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void aCr3WriteKeepsGlobalPagesOnly(String mode) {
        faultsAfter(mode, true, false, 0x1111, LOCAL + LOCAL_DATA); // the global entry still translates
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void withoutPgeACr3WriteDropsThemAll(String mode) {
        faultsAfter(mode, false, false, 0, GLOBAL + DATA);
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void aCr4WriteDropsGlobalPagesToo(String mode) {
        faultsAfter(mode, true, true, 0, GLOBAL + DATA);
    }
}
