package io.cloister.cpu.x86;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.cloister.testkit.TestGuest;

/**
 * Puts a test vCPU in 64-bit mode as a guest's start-up code would: paging on with the first 4 GiB
 * identity-mapped by 1 GiB pages (so MMIO such as the HPET at 0xfed00000 is reachable), a GDT
 * with a 64-bit code segment at 0x08, and an IDT whose 32 exception gates enter
 * {@link #handler}s that halt. Code goes at {@link #CODE}; the stack grows down from {@link #STACK}.
 */
final class LongMode {
    static final long CODE = 0x1000;
    static final long HANDLER = 0x3000;
    static final long PML4 = 0x10000;
    static final long PDPT = 0x11000;
    static final long IDT = 0x12000;
    static final long GDT = 0x13000;
    static final long STACK = 0x20000;
    /** Flat descriptors: 0x08 64-bit code, 0x10 data, 0x18 32-bit code, 0x20 64-bit code not present. */
    static final long[] DESCRIPTORS = {0, 0x00af9a000000ffffL, 0x00cf92000000ffffL, 0x00cf9a000000ffffL, 0x00af1a000000ffffL};

    private LongMode() {
    }

    static void enter(X86Vcpu cpu, TestGuest g) {
        write(g, PML4, PDPT | 3);
        for (int i = 0; i < 4; i++) {
            write(g, PDPT + 8L * i, ((long) i << 30) | 0x83); // present, writable, 1 GiB
        }
        for (int i = 0; i < DESCRIPTORS.length; i++) {
            write(g, GDT + 8L * i, DESCRIPTORS[i]);
        }
        for (int v = 0; v < 32; v++) {
            long h = handler(v);
            write(g, IDT + 16L * v, (h & 0xffff) | (0x08L << 16) | (0x8eL << 40) | ((h >>> 16 & 0xffff) << 48));
            write(g, IDT + 16L * v + 8, h >>> 32);
            code(g, h, new byte[] {(byte) 0xf4}); // hlt: the vector shows in rip
        }
        cpu.cr3 = PML4;
        cpu.cr4 = X86Vcpu.CR4_PAE;
        cpu.efer = X86Vcpu.EFER_LME | X86Vcpu.EFER_LMA;
        cpu.cr0 = X86Vcpu.CR0_PE | X86Vcpu.CR0_ET | X86Vcpu.CR0_PG;
        cpu.gdtBase = GDT;
        cpu.gdtLimit = 8 * DESCRIPTORS.length - 1;
        cpu.idtBase = IDT;
        cpu.idtLimit = 32 * 16 - 1;
        cpu.cs = 0x08;
        cpu.code64 = true;
        cpu.rip = CODE;
        cpu.r[X86Vcpu.RSP] = STACK;
        cpu.flushTlb();
    }

    /** Where exception {@code vector} enters: a hlt, so after the halt rip is handler(vector) + 1. */
    static long handler(int vector) {
        return HANDLER + 16L * vector;
    }

    static void write(TestGuest g, long gpa, long value) {
        MemorySegment s = MemorySegment.ofArray(new long[1]);
        s.set(ValueLayout.JAVA_LONG, 0, value);
        g.memory.write(gpa, s);
    }

    static void code(TestGuest g, long gpa, byte[] code) {
        g.memory.write(gpa, MemorySegment.ofArray(code));
    }

    static long read(TestGuest g, long gpa) {
        return g.guestReadLong(gpa);
    }
}
