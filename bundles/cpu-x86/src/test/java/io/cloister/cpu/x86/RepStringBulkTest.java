package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * REP MOVS and REP STOS copy and fill RAM a page-bounded chunk at a time (Strings.bulk); the
 * element loop they stand for is the reference. Each case runs twice on fresh machines, chunked
 * and element by element, and everything the guest or the VMM can see must match: memory, rCX,
 * rSI, rDI, rip, CR2, the exits and device accesses. The linear window at {@link #WINDOW} maps
 * its 4 KiB pages onto a few physical pages in a shuffled order (so pages alias and chunks meet
 * at page crossings), onto unbacked memory (answered as MMIO) or onto nothing (#PF).
 */
class RepStringBulkTest {
    /** 16 linear pages through the page table at {@link #PT}; the 2 MiB below and the rest of its 2 MiB are not present. */
    static final long WINDOW = 0x400000;
    static final long PD = 0x14000;
    static final long PT = 0x15000;
    /** The physical RAM pages the window maps onto. */
    static final long DATA = 0x80000;
    static final int DATA_PAGES = 6;
    /** Unbacked: the VMM answers reads there, each write is an MMIO exit. */
    static final long DEVICE = 0x80000000L;

    /** What a run leaves that the guest or the VMM can see. */
    record Outcome(String exit, long rip, long rcx, long rsi, long rdi, long cr2, long rflags, List<String> accesses, byte[] ram) {
        void assertSame(Outcome o, String what) {
            assertEquals(exit, o.exit, what + ": exit");
            assertEquals(List.of(rip, rcx, rsi, rdi, cr2, rflags), List.of(o.rip, o.rcx, o.rsi, o.rdi, o.cr2, o.rflags),
                    what + ": rip, rcx, rsi, rdi, cr2, rflags");
            assertEquals(accesses, o.accesses, what + ": device accesses");
            assertArrayEquals(ram, o.ram, what + ": memory");
        }
    }

    /** A case: the code, the page-table entries of the window, the registers, the data's seed. */
    record Case(byte[] code, long[] pte, long rsi, long rdi, long rcx, long rax, long seed) {
        Outcome run(String mode, boolean bulk) {
            try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
                LongMode.write(m.g, LongMode.PDPT, PD | 3);
                LongMode.write(m.g, PD, 0x83); // the first 2 MiB identity-mapped
                LongMode.write(m.g, PD + 16, PT | 3);
                for (int i = 0; i < pte.length; i++) {
                    LongMode.write(m.g, PT + 8L * i, pte[i]);
                }
                byte[] data = new byte[DATA_PAGES * 4096];
                new Random(seed).nextBytes(data);
                m.g.memory.write(DATA, MemorySegment.ofArray(data));
                LongMode.code(m.g, LongMode.CODE, code);
                m.cpu.flushTlb();
                m.cpu.bulkStrings = bulk;
                m.cpu.r[X86Vcpu.RSI] = rsi;
                m.cpu.r[X86Vcpu.RDI] = rdi;
                m.cpu.r[X86Vcpu.RCX] = rcx;
                m.cpu.r[X86Vcpu.RAX] = rax;
                Exit e = m.run(gpa -> gpa * 0x9e3779b97f4a7c15L);
                m.cpu.refreshRam();
                return new Outcome(e.getClass().getSimpleName(), m.cpu.rip, m.cpu.r[X86Vcpu.RCX], m.cpu.r[X86Vcpu.RSI],
                        m.cpu.r[X86Vcpu.RDI], m.cpu.cr2, m.cpu.flags(), m.accesses, m.cpu.ram.toArray(ValueLayout.JAVA_BYTE));
            }
        }

        /** Runs chunked and element by element; both must agree. The chunked outcome. */
        Outcome check(String mode, String what) {
            Outcome bulk = run(mode, true);
            run(mode, false).assertSame(bulk, what);
            return bulk;
        }
    }

    /** cld or std, then the string instruction with REP (0x67: 32-bit addresses), then hlt. */
    static byte[] rep(boolean down, boolean addr32, int size, boolean movs) {
        ByteArrayOutputStream c = new ByteArrayOutputStream();
        c.write(down ? 0xfd : 0xfc);
        if (addr32) {
            c.write(0x67);
        }
        if (size == 2) {
            c.write(0x66);
        }
        c.write(0xf3);
        if (size == 8) {
            c.write(0x48);
        }
        c.write((movs ? 0xa4 : 0xaa) | (size == 1 ? 0 : 1));
        c.write(0xf4);
        return c.toByteArray();
    }

    /** Window pages onto the data pages in order: page i onto data page i % DATA_PAGES. */
    static long[] straight() {
        long[] pte = new long[16];
        for (int i = 0; i < pte.length; i++) {
            pte[i] = DATA + 4096L * (i % DATA_PAGES) | 3;
        }
        return pte;
    }

    /** Random cases: sizes, directions, address sizes, counts, alignments, overlaps, page crossings. */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "compiled"})
    void chunksMatchTheElementLoop(String mode) {
        Random rnd = new Random(mode.hashCode());
        int cases = mode.equals("interpreted") ? 600 : 60;
        for (int i = 0; i < cases; i++) {
            int size = 1 << rnd.nextInt(4);
            boolean movs = rnd.nextBoolean();
            boolean down = rnd.nextInt(3) == 0;
            long[] pte = new long[16];
            for (int p = 0; p < pte.length; p++) {
                int kind = rnd.nextInt(20);
                pte[p] = kind == 0 ? 0 : kind == 1 ? DEVICE + 4096L * p | 3 : DATA + 4096L * rnd.nextInt(DATA_PAGES) | 3;
            }
            long rsi = WINDOW + rnd.nextInt(16 * 4096);
            long rdi = switch (rnd.nextInt(4)) {
                case 0 -> rsi + rnd.nextInt(33) - 16; // overlapping, in either direction
                case 1 -> rsi + (rnd.nextBoolean() ? 4096 : -4096) + rnd.nextInt(17) - 8; // a page apart: aliasing pages overlap
                default -> WINDOW + rnd.nextInt(16 * 4096);
            };
            long rcx = switch (rnd.nextInt(4)) {
                case 0 -> rnd.nextInt(8);
                case 1 -> rnd.nextInt(9000 / size);
                default -> rnd.nextInt(2000);
            };
            if (java.util.Arrays.stream(pte).anyMatch(e -> e >= DEVICE)) {
                rcx = Math.min(rcx, 450); // each element read or written there is an exit
            }
            rdi = Math.clamp(rdi, WINDOW, WINDOW + 16 * 4096 - 1);
            boolean addr32 = rnd.nextInt(4) == 0;
            if (addr32) {
                rcx |= (long) rnd.nextInt() << 32; // ECX counts; the upper half is cleared
                rsi |= (long) rnd.nextInt() << 32;
            }
            long rax = switch (rnd.nextInt(3)) {
                case 0 -> 0;
                case 1 -> 0x0101010101010101L * rnd.nextInt(256);
                default -> rnd.nextLong();
            };
            Case c = new Case(rep(down, addr32, size, movs), pte, rsi, rdi, rcx, rax, rnd.nextLong());
            c.check(mode, "case " + i + ": " + c);
        }
    }

    /**
     * A #PF on the destination's second page: the elements before it are done (rCX, rDI, rSI and
     * memory say so), none after, and CR2 names the first byte of the missing page.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aPageFaultMidwayLeavesTheCompletedElements(boolean down) {
        long[] pte = straight();
        pte[2] = 0; // not present
        // Forwards from page 1 + 0x800 into page 2; backwards from page 3 + 0x7f8 down into page 2.
        long rdi = down ? WINDOW + 3 * 4096 + 0x7f8 : WINDOW + 4096 + 0x800;
        long rsi = WINDOW + 5 * 4096 + (down ? 0xc00 : 0x400);
        Case c = new Case(rep(down, false, 8, true), pte, rsi, rdi, 1000, 0, 7);
        Outcome o = c.check("interpreted", "#PF");
        assertEquals(LongMode.handler(X86Vcpu.VEC_PF) + 1, o.rip, "#PF delivered");
        long done = 0x800 / 8;
        assertEquals(1000 - done, o.rcx);
        assertEquals(rdi + (down ? -8 : 8) * done, o.rdi);
        assertEquals(rsi + (down ? -8 : 8) * done, o.rsi);
        assertEquals(down ? WINDOW + 3 * 4096 - 8 : WINDOW + 2 * 4096, o.cr2);
        // The data pages as the done elements leave them: 0x800 bytes from data page 5 to page 1 or 3.
        byte[] want = new byte[DATA_PAGES * 4096];
        new Random(7).nextBytes(want);
        System.arraycopy(want, 5 * 4096 + (down ? 0x408 : 0x400), want, down ? 3 * 4096 : 4096 + 0x800, 0x800);
        assertArrayEquals(want, java.util.Arrays.copyOfRange(o.ram, (int) DATA, (int) DATA + want.length));
    }

    /** A destination page that is MMIO: each element one write exit, in order, as before. */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void mmioDestinationsWriteElementByElement(boolean movs) {
        long[] pte = straight();
        pte[1] = DEVICE | 3;
        // 4 elements in RAM (page 0's end), then 3 in the device page.
        Case c = new Case(rep(false, false, 4, movs), pte, WINDOW + 3 * 4096, WINDOW + 4096 - 16, 7, 0x11223344, 3);
        Outcome o = c.check("interpreted", "mmio");
        assertEquals(LongMode.CODE + 4, o.rip, "completed");
        assertEquals(0, o.rcx);
        assertEquals(3, o.accesses.size(), o.accesses.toString());
        for (int i = 0; i < 3; i++) {
            assertTrue(o.accesses.get(i).startsWith(String.format("write %x/4=", DEVICE + 4 * i)), o.accesses.toString());
        }
        if (!movs) {
            assertEquals(List.of("write 80000000/4=11223344", "write 80000004/4=11223344", "write 80000008/4=11223344"), o.accesses);
        }
    }

    /** dst = src + 1 forwards replicates the first byte, as x86's element loop does; a memmove would not. */
    @Test
    void overlappingForwardCopyReplicates() {
        Case c = new Case(rep(false, false, 1, true), straight(), WINDOW + 0x100, WINDOW + 0x101, 3000, 0, 11);
        Outcome o = c.check("interpreted", "replicate");
        byte first = o.ram[(int) DATA + 0x100];
        for (int b = 0; b <= 3000; b++) {
            assertEquals(first, o.ram[(int) DATA + 0x100 + b], "byte " + b);
        }
        // And 8-byte elements 12 bytes apart forwards: each element reads what one before wrote.
        new Case(rep(false, false, 8, true), straight(), WINDOW + 0x2000, WINDOW + 0x200c, 1500, 0, 12).check("interpreted", "8/12");
        new Case(rep(true, false, 8, true), straight(), WINDOW + 0x2800, WINDOW + 0x27f4, 1500, 0, 13).check("interpreted", "down 8/12");
    }

    /** A fill with a pattern of distinct bytes, backwards across pages: each element holds rAX's low bytes. */
    @Test
    void patternFillBackwards() {
        long rax = 0x8877665544332211L;
        Case c = new Case(rep(true, false, 8, false), straight(), 0, WINDOW + 3 * 4096 + 8, 1000, rax, 5);
        Outcome o = c.check("interpreted", "fill");
        assertEquals(0, o.rcx);
        MemorySegment ram = MemorySegment.ofArray(o.ram);
        for (int k = 0; k < 1000; k++) {
            long la = WINDOW + 3 * 4096 + 8 - 8L * k;
            long pa = DATA + ((la - WINDOW) >>> 12) % DATA_PAGES * 4096 + (la & 0xfff);
            assertEquals(rax, ram.get(ValueLayout.JAVA_LONG_UNALIGNED, pa), "element " + k);
        }
    }

    /**
     * A copy over decoded code: a function run once (decoded), overwritten by REP MOVSB, runs anew;
     * and REP STOSB over the instructions right after it in the same block.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void aCopyOverDecodedCodeRunsTheNewCode(String mode) {
        try (DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode)) {
            long fn = 0x5000;
            long fresh = 0x6000;
            LongMode.code(m.g, fn, bytes(0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3)); // mov eax, 1; ret
            LongMode.code(m.g, fresh, bytes(0xb8, 0x02, 0x00, 0x00, 0x00, 0xc3)); // mov eax, 2; ret
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0xbb, 0x00, 0x50, 0x00, 0x00, // mov ebx, fn
                    0xff, 0xd3, // call rbx: eax = 1
                    0x89, 0xc2, // mov edx, eax
                    0xbe, 0x00, 0x60, 0x00, 0x00, // mov esi, fresh
                    0xbf, 0x00, 0x50, 0x00, 0x00, // mov edi, fn
                    0xb9, 0x06, 0x00, 0x00, 0x00, // mov ecx, 6
                    0xf3, 0xa4, // rep movsb
                    0xff, 0xd3, // call rbx: eax = 2
                    0x89, 0xc5, // mov ebp, eax
                    0xbf, 0x2c, 0x10, 0x00, 0x00, // mov edi, CODE + 0x2c (the mov ebx below)
                    0xb9, 0x05, 0x00, 0x00, 0x00, // mov ecx, 5
                    0xb0, 0x90, // mov al, 0x90 (nop)
                    0xf3, 0xaa, // rep stosb
                    0xbb, 0x07, 0x00, 0x00, 0x00, // mov ebx, 7: overwritten by nops
                    0xf4)); // hlt
            m.cpu.r[X86Vcpu.RBX] = 0;
            Exit e = m.run(gpa -> -1);
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(1, m.cpu.r[X86Vcpu.RDX], "the old function ran first");
            assertEquals(2, m.cpu.r[X86Vcpu.RBP], "the copied function ran after the copy");
            assertEquals(fn, m.cpu.r[X86Vcpu.RBX], "the overwritten mov ebx did not run");
        }
    }

    /** With 32-bit addresses STOS steps EDI only: RSI keeps its upper half (the element loop cleared it). */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void stosWith32BitAddressesLeavesRsi(boolean bulk) {
        Case c = new Case(rep(false, true, 4, false), straight(), 0x1234_5678_0000_0010L, WINDOW + 0x10, 0xffff_ffff_0000_0003L, 9, 1);
        Outcome o = c.run("interpreted", bulk);
        assertEquals(0x1234_5678_0000_0010L, o.rsi, "rsi untouched");
        assertEquals(WINDOW + 0x1c, o.rdi);
        assertEquals(0, o.rcx, "ECX counted down, the upper half cleared");
    }

    /** 16-bit addresses in real mode: SI and DI wrap at 64 KiB inside their segments, chunked or not. */
    @ParameterizedTest
    @ValueSource(strings = {"a4", "a5", "aa", "ab", "66a5", "66ab"})
    void sixteenBitAddressesWrap(String insn) {
        List<Object> outcomes = new ArrayList<>();
        for (boolean down : new boolean[] {false, true}) {
            for (boolean bulk : new boolean[] {true, false}) {
                byte[] op = java.util.HexFormat.of().parseHex(insn);
                byte[] code = new byte[op.length + 3];
                code[0] = (byte) (down ? 0xfd : 0xfc);
                code[1] = (byte) 0xf3;
                if (op.length == 2) { // 66 before f3 or after: both prefixes; keep 66 first
                    code[1] = 0x66;
                    code[2] = (byte) 0xf3;
                    code[3] = op[1];
                } else {
                    code[2] = op[0];
                }
                code[code.length - 1] = (byte) 0xf4;
                try (RealModeTest.Real m = new RealModeTest.Real("interpreted", code)) {
                    byte[] data = new byte[0x30000];
                    new Random(insn.hashCode()).nextBytes(data);
                    m.g.memory.write(0x20000, MemorySegment.ofArray(data)); // DS = 0x2008, ES = 0x4003 below
                    m.cpu.loadSegment(0, 0x4003); // segment bases off the page grid: the wrap comes before the page end
                    m.cpu.loadSegment(3, 0x2008);
                    m.cpu.bulkStrings = bulk;
                    m.cpu.r[X86Vcpu.RSI] = 0x7777_0000_0000_0000L | (down ? 0x0010 : 0xffe0);
                    m.cpu.r[X86Vcpu.RDI] = 0x1234_0000L | (down ? 0x0008 : 0xfff0);
                    m.cpu.r[X86Vcpu.RCX] = 0x5555_0000L | 0x40;
                    m.cpu.r[X86Vcpu.RAX] = 0xa1b2c3d4e5f60718L;
                    assertTrue(m.run() instanceof Exit.Halt);
                    m.cpu.refreshRam();
                    Outcome o = new Outcome("", m.cpu.rip, m.cpu.r[X86Vcpu.RCX], m.cpu.r[X86Vcpu.RSI], m.cpu.r[X86Vcpu.RDI], 0,
                            m.cpu.flags(), List.of(), m.cpu.ram.toArray(ValueLayout.JAVA_BYTE));
                    assertEquals(0x5555_0000L, o.rcx, "CX counted down, the upper half kept");
                    assertEquals(0x1234_0000L, o.rdi & ~0xffffL, "DI's upper half kept");
                    outcomes.add(o);
                }
            }
            ((Outcome) outcomes.get(outcomes.size() - 1)).assertSame((Outcome) outcomes.get(outcomes.size() - 2), insn + " down " + down);
        }
    }
}
