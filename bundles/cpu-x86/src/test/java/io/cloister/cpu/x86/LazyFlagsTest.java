package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.sized;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * The decoded path reads conditions from lazy flags and compiled blocks from the same state; the
 * interpreter computes every flag eagerly and is itself checked against the host CPU
 * (HostOracleTest). Each flag-setting form here, followed by a use of every condition, must give
 * the same registers and flags on all three paths, for edge and random operands.
 */
class LazyFlagsTest {
    private static final int[] ALU = {0x00, 0x08, 0x20, 0x28, 0x30, 0x38, 0x84}; // add or and sub xor cmp test (byte forms)
    private static final int[] SIZES = {1, 2, 4, 8};

    private TestGuest guest;
    private X86Vcpu cpu;
    private final List<String> bad = new ArrayList<>();
    private int cases;

    @BeforeEach
    void guest() {
        guest = new TestGuest("lazy", 1 << 20, PageState.SHARED);
        cpu = new X86Vcpu(0, guest.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0);
        cpu.code64 = true; // long-mode decoding; paging stays off
    }

    @AfterEach
    void close() {
        guest.close();
    }

    @Test
    void conditionsAfterEachAluFormAgreeOnAllPaths() {
        Random rnd = new Random(7);
        long[] edges = {0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0x7fffffffL, 0x80000000L, 0xffffffffL, Long.MAX_VALUE, Long.MIN_VALUE};
        for (int alu : ALU) {
            for (int size : SIZES) {
                for (int cc = 0; cc < 16; cc++) {
                    for (int use = 0; use < 3; use++) {
                        byte[] code = code(sized(size, size == 1 ? alu : alu + 1, 0xd8), use(cc, use, size)); // op rax, rbx
                        for (int t = 0; t < 40; t++) {
                            long a = t < edges.length ? edges[t] : rnd.nextLong() >> rnd.nextInt(64);
                            long b = t % 5 == 0 ? a // equal operands: ZF and the LE/BE conditions
                                    : t < edges.length ? edges[(t * 7 + 3) % edges.length] : rnd.nextLong() >> rnd.nextInt(64);
                            threeWays(code, 2, a, b);
                        }
                    }
                }
            }
        }
        assertTrue(bad.isEmpty(), bad.size() + " differences in " + cases + " cases:\n" + String.join("\n", bad));
    }

    /**
     * ADC and SBB read the carry as it stands (lazy after a CMP or an ADD, or in rflags) and set
     * all six flags, lazily: after a carry in of 0 and of 1, from rflags (BT), from a lazy CMP and
     * from a lazy ADD, and in a chain of two (the second reading the first's lazy CF), every
     * condition and the flags themselves must be the interpreter's on all three paths.
     */
    @Test
    void adcAndSbbFlagsAgreeOnAllPaths() {
        Random rnd = new Random(27);
        long[] edges = {0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0x7fffffffL, 0x80000000L, 0xffffffffL, Long.MAX_VALUE, Long.MIN_VALUE};
        // bt rcx,0 (CF 1) and bt rcx,1 (CF 0) leave CF in rflags; cmp rcx,rdx (borrow) and cmp rdx,rcx leave it lazy
        // mov rcx,rax; add rcx,rbx: the carry of a + b, lazy from an ADD (a block's record of it in its locals)
        int[][] carries = {{0x48, 0x0f, 0xba, 0xe1, 0x00}, {0x48, 0x0f, 0xba, 0xe1, 0x01}, {0x48, 0x39, 0xd1}, {0x48, 0x39, 0xca},
            {0x48, 0x89, 0xc1, 0x48, 0x01, 0xd9}};
        for (int alu : new int[] {0x10, 0x18}) { // adc, sbb
            for (int size : SIZES) {
                int[] op = sized(size, size == 1 ? alu : alu + 1, 0xd8); // op rax, rbx
                int[] second = sized(size, size == 1 ? alu : alu + 1, 0xd9); // op rcx, rbx: reads the first one's CF
                for (int[] carry : carries) {
                    for (int cc = 0; cc < 16; cc++) {
                        for (int use = 0; use < 3; use++) {
                            byte[] one = code(carry, op, use(cc, use, size));
                            byte[] two = code(carry, op, second, use(cc, use, size));
                            for (int t = 0; t < 16; t++) {
                                long a = t < edges.length ? edges[t] : rnd.nextLong() >> rnd.nextInt(64);
                                long b = t % 4 == 0 ? a : t % 4 == 1 ? ~a // equal operands; a + ~a + 1 carries exactly
                                        : t < edges.length ? edges[(t * 7 + 3) % edges.length] : rnd.nextLong() >> rnd.nextInt(64);
                                int before = carry.length == 6 ? 2 : 1; // instructions that make the carry
                                threeWays(one, before + 2, a, b);
                                threeWays(two, before + 3, a, b);
                            }
                        }
                    }
                }
            }
        }
        assertTrue(bad.isEmpty(), bad.size() + " differences in " + cases + " cases:\n" + String.join("\n", bad));
    }

    /**
     * The immediate forms (op r/m, imm8 sign-extended; test r/m, imm) against every condition: a
     * negative immediate is all ones above the operand's size, which a compiled block's inline
     * conditions must cut off as the lazy flags do.
     */
    @Test
    void conditionsAfterImmediateFormsAgreeOnAllPaths() {
        Random rnd = new Random(17);
        long[] edges = {0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0x7fffffffL, 0x80000000L, 0xffffffffL, Long.MAX_VALUE, Long.MIN_VALUE};
        int[] imms = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe};
        for (int sub : new int[] {0, 1, 4, 5, 6, 7, -1}) { // add or and sub xor cmp; -1: test r/m, imm
            for (int size : SIZES) {
                for (int imm : imms) {
                    for (int cc = 0; cc < 16; cc++) {
                        int[] op;
                        if (sub < 0) {
                            op = size == 1 ? new int[] {0xf6, 0xc0, imm} // test al, imm8
                                    : size == 2 ? new int[] {0xf7, 0xc0, imm, 0xff} : new int[] {0xf7, 0xc0, imm, 0xff, 0xff, 0xff};
                        } else {
                            op = size == 1 ? new int[] {0x80, 0xc0 | sub << 3, imm} : new int[] {0x83, 0xc0 | sub << 3, imm};
                        }
                        byte[] code = code(sized(size, op), use(cc, rnd.nextInt(3), size));
                        for (int t = 0; t < 8; t++) {
                            long a = t < 4 ? edges[(t * 5 + imm) % edges.length] : rnd.nextLong() >> rnd.nextInt(64);
                            threeWays(code, 2, a, 0);
                        }
                    }
                }
            }
        }
        assertTrue(bad.isEmpty(), bad.size() + " differences in " + cases + " cases:\n" + String.join("\n", bad));
    }

    /**
     * INC and DEC keep CF from the instruction before them (here a CMP that may set it) and set the
     * rest: after each, every condition must read the same on all three paths.
     */
    @Test
    void incAndDecKeepTheCarry() {
        Random rnd = new Random(11);
        for (int size : SIZES) {
            for (int dec = 0; dec < 2; dec++) {
                for (int cc = 0; cc < 16; cc++) {
                    byte[] code = code(CMP, sized(size, size == 1 ? 0xfe : 0xff, dec == 0 ? 0xc0 : 0xc8), use(cc, 0, size));
                    for (int t = 0; t < 30; t++) {
                        long a = t < 4 ? new long[] {0, -1, 0x7f, 0x7fffffffL}[t] : rnd.nextLong() >> rnd.nextInt(64);
                        threeWays(code, 3, a, rnd.nextBoolean() ? a + 1 : a - 1);
                    }
                }
            }
        }
        assertTrue(bad.isEmpty(), bad.size() + " differences in " + cases + " cases:\n" + String.join("\n", bad));
    }

    /**
     * SHL, SHR and SAR by an immediate (0 keeps the flags of the CMP before) set CF, OF (count 1)
     * and ZF/SF/PF lazily: every condition after them reads the same on all three paths.
     */
    @Test
    void shiftsSetTheirFlagsLazily() {
        Random rnd = new Random(13);
        for (int size : SIZES) {
            for (int op : new int[] {0xe0, 0xe8, 0xf8}) { // /4 shl, /5 shr, /7 sar on al/ax/eax/rax
                for (int count : new int[] {0, 1, 2, 7, 8, 15, 31, 63}) {
                    for (int cc = 0; cc < 16; cc++) {
                        byte[] code = code(CMP, sized(size, size == 1 ? 0xc0 : 0xc1, op, count), use(cc, 0, size));
                        for (int t = 0; t < 6; t++) {
                            long a = t == 0 ? 0 : t == 1 ? -1 : rnd.nextLong() >> rnd.nextInt(64);
                            threeWays(code, 3, a, rnd.nextLong());
                        }
                    }
                }
            }
        }
        assertTrue(bad.isEmpty(), bad.size() + " differences in " + cases + " cases:\n" + String.join("\n", bad));
    }

    private static final int[] CMP = {0x48, 0x39, 0xd8}; // cmp rax, rbx

    /** Runs {@code steps} instructions of {@code code} interpreted, decoded and compiled; records differences. */
    private void threeWays(byte[] code, int steps, long a, long b) {
        guest.memory.write(0x1000, MemorySegment.ofArray(code));
        long[][] results = new long[3][];
        for (int mode = 0; mode < 3; mode++) {
            cpu.r[X86Vcpu.RAX] = a;
            cpu.r[X86Vcpu.RBX] = b;
            cpu.r[X86Vcpu.RCX] = 0x1111;
            cpu.r[X86Vcpu.RDX] = 0x2222;
            cpu.rflags = Flags.FIXED;
            cpu.rip = 0x1000;
            if (mode == 2) {
                cpu.stepCompiledUncached(steps);
            } else {
                for (int i = 0; i < steps; i++) {
                    if (mode == 0) {
                        cpu.step();
                    } else {
                        cpu.stepDecodedUncached();
                    }
                }
            }
            cpu.materialize();
            results[mode] = new long[] {cpu.r[X86Vcpu.RAX], cpu.r[X86Vcpu.RCX], cpu.rflags, cpu.rip};
        }
        cases++;
        for (int mode = 1; mode < 3; mode++) {
            if (!Arrays.equals(results[0], results[mode]) && bad.size() < 30) {
                bad.add(String.format("%s a=%x b=%x: interpreter %s, %s %s", HexFormat.of().formatHex(code), a, b, hex(results[0]),
                        mode == 1 ? "decoded" : "compiled", hex(results[mode])));
            }
        }
    }

    /** A use of condition {@code cc}: setcc cl (0), cmovcc ecx/rcx, edx/rdx (1), jcc +0x10 (2). */
    private static int[] use(int cc, int use, int size) {
        return switch (use) {
            case 0 -> new int[] {0x0f, 0x90 + cc, 0xc1};
            case 1 -> size == 8 ? new int[] {0x48, 0x0f, 0x40 + cc, 0xca} : new int[] {0x0f, 0x40 + cc, 0xca};
            default -> new int[] {0x70 + cc, 0x10};
        };
    }

    private static byte[] code(int[]... parts) {
        return Code.bytes(Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray());
    }

    private static String hex(long[] v) {
        StringBuilder s = new StringBuilder("[");
        for (long x : v) {
            s.append(String.format(" %x", x));
        }
        return s.append(" ]").toString();
    }
}
