package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

import io.cloister.api.cpu.CocoCpu;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * The decoded path reads conditions from lazy flags and compiled blocks from the same state; the
 * interpreter computes every flag eagerly and is itself checked against the host CPU
 * (HostOracleTest). Here each flag-setting ALU form, at every operand size, followed by SETcc,
 * CMOVcc or Jcc for all sixteen conditions, must give the same registers and flags on all three
 * paths, for edge and random operands.
 */
class LazyFlagsTest {
    private static final int[] ALU = {0x00, 0x08, 0x20, 0x28, 0x30, 0x38, 0x84}; // add or and sub xor cmp test (byte forms)

    @Test
    void conditionsAfterEachAluFormAgreeOnAllPaths() throws Exception {
        Random rnd = new Random(7);
        long[] edges = {0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0x7fffffffL, 0x80000000L, 0xffffffffL, Long.MAX_VALUE, Long.MIN_VALUE};
        List<String> bad = new ArrayList<>();
        int cases = 0;
        try (TestGuest g = new TestGuest("lazy", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0);
            cpu.code64 = true;
            for (int alu : ALU) {
                for (int size : new int[] {1, 2, 4, 8}) {
                    for (int cc = 0; cc < 16; cc++) {
                        for (int use = 0; use < 3; use++) {
                            byte[] code = code(alu, size, cc, use);
                            g.memory.write(0x1000, MemorySegment.ofArray(code));
                            for (int t = 0; t < 40; t++) {
                                long a = t < edges.length ? edges[t] : rnd.nextLong() >> rnd.nextInt(64);
                                long b = t < edges.length ? edges[(t * 7 + 3) % edges.length] : rnd.nextLong() >> rnd.nextInt(64);
                                if (t % 5 == 0) {
                                    b = a; // equal operands: ZF and the LE/BE conditions
                                }
                                long[][] results = new long[3][];
                                for (int mode = 0; mode < 3; mode++) {
                                    cpu.r[X86Vcpu.RAX] = a;
                                    cpu.r[X86Vcpu.RBX] = b;
                                    cpu.r[X86Vcpu.RCX] = 0x1111;
                                    cpu.r[X86Vcpu.RDX] = 0x2222;
                                    cpu.rflags = Flags.FIXED;
                                    cpu.rip = 0x1000;
                                    switch (mode) {
                                        case 0 -> {
                                            cpu.step();
                                            cpu.step();
                                        }
                                        case 1 -> {
                                            cpu.stepDecodedUncached();
                                            cpu.stepDecodedUncached();
                                        }
                                        default -> cpu.stepCompiledUncached(2);
                                    }
                                    cpu.materialize();
                                    results[mode] = new long[] {cpu.r[X86Vcpu.RAX], cpu.r[X86Vcpu.RCX], cpu.rflags, cpu.rip};
                                }
                                cases++;
                                for (int mode = 1; mode < 3; mode++) {
                                    if (!java.util.Arrays.equals(results[0], results[mode]) && bad.size() < 30) {
                                        bad.add(String.format("%s a=%x b=%x %s: interpreter %s, %s %s", java.util.HexFormat.of().formatHex(code), a, b,
                                                new String[] {"setcc", "cmovcc", "jcc"}[use], hex(results[0]), mode == 1 ? "decoded" : "compiled",
                                                hex(results[mode])));
                                    }
                                }
                            }
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
    void incAndDecKeepTheCarry() throws Exception {
        Random rnd = new Random(11);
        List<String> bad = new ArrayList<>();
        try (TestGuest g = new TestGuest("incdec", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0);
            cpu.code64 = true;
            for (int size : new int[] {1, 2, 4, 8}) {
                for (int dec = 0; dec < 2; dec++) {
                    for (int cc = 0; cc < 16; cc++) {
                        List<Integer> b = new ArrayList<>(List.of(0x48, 0x39, 0xd8)); // cmp rax, rbx
                        if (size == 2) {
                            b.add(0x66);
                        }
                        if (size == 8) {
                            b.add(0x48);
                        }
                        b.addAll(List.of(size == 1 ? 0xfe : 0xff, dec == 0 ? 0xc0 : 0xc8)); // inc/dec al/ax/eax/rax
                        b.addAll(List.of(0x0f, 0x90 + cc, 0xc1)); // setcc cl
                        byte[] code = new byte[b.size()];
                        for (int i = 0; i < code.length; i++) {
                            code[i] = (byte) (int) b.get(i);
                        }
                        g.memory.write(0x1000, MemorySegment.ofArray(code));
                        for (int t = 0; t < 30; t++) {
                            long a = t < 4 ? new long[] {0, -1, 0x7f, 0x7fffffffL}[t] : rnd.nextLong() >> rnd.nextInt(64);
                            long bv = rnd.nextBoolean() ? a + 1 : a - 1;
                            long[][] results = new long[3][];
                            for (int mode = 0; mode < 3; mode++) {
                                cpu.r[X86Vcpu.RAX] = a;
                                cpu.r[X86Vcpu.RBX] = bv;
                                cpu.r[X86Vcpu.RCX] = 0x1111;
                                cpu.rflags = Flags.FIXED;
                                cpu.rip = 0x1000;
                                switch (mode) {
                                    case 0 -> {
                                        cpu.step();
                                        cpu.step();
                                        cpu.step();
                                    }
                                    case 1 -> {
                                        cpu.stepDecodedUncached();
                                        cpu.stepDecodedUncached();
                                        cpu.stepDecodedUncached();
                                    }
                                    default -> cpu.stepCompiledUncached(3);
                                }
                                cpu.materialize();
                                results[mode] = new long[] {cpu.r[X86Vcpu.RAX], cpu.r[X86Vcpu.RCX], cpu.rflags, cpu.rip};
                            }
                            for (int mode = 1; mode < 3; mode++) {
                                if (!java.util.Arrays.equals(results[0], results[mode]) && bad.size() < 30) {
                                    bad.add(String.format("%s a=%x b=%x: interpreter %s, %s %s", java.util.HexFormat.of().formatHex(code), a, bv,
                                            hex(results[0]), mode == 1 ? "decoded" : "compiled", hex(results[mode])));
                                }
                            }
                        }
                    }
                }
            }
        }
        assertTrue(bad.isEmpty(), bad.size() + " differences:\n" + String.join("\n", bad));
    }

    /**
     * SHL, SHR and SAR by an immediate (0 keeps the flags of the CMP before) set CF, OF (count 1)
     * and ZF/SF/PF lazily: every condition after them reads the same on all three paths.
     */
    @Test
    void shiftsSetTheirFlagsLazily() throws Exception {
        Random rnd = new Random(13);
        List<String> bad = new ArrayList<>();
        try (TestGuest g = new TestGuest("shift", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0);
            cpu.code64 = true;
            for (int size : new int[] {1, 2, 4, 8}) {
                for (int op : new int[] {0xe0, 0xe8, 0xf8}) { // /4 shl, /5 shr, /7 sar on al/ax/eax/rax
                    for (int count : new int[] {0, 1, 2, 7, 8, 15, 31, 63}) {
                        for (int cc = 0; cc < 16; cc++) {
                            List<Integer> b = new ArrayList<>(List.of(0x48, 0x39, 0xd8)); // cmp rax, rbx
                            if (size == 2) {
                                b.add(0x66);
                            }
                            if (size == 8) {
                                b.add(0x48);
                            }
                            b.addAll(List.of(size == 1 ? 0xc0 : 0xc1, op, count));
                            b.addAll(List.of(0x0f, 0x90 + cc, 0xc1)); // setcc cl
                            byte[] code = new byte[b.size()];
                            for (int i = 0; i < code.length; i++) {
                                code[i] = (byte) (int) b.get(i);
                            }
                            g.memory.write(0x1000, MemorySegment.ofArray(code));
                            for (int t = 0; t < 6; t++) {
                                long a = t == 0 ? 0 : t == 1 ? -1 : rnd.nextLong() >> rnd.nextInt(64);
                                long bv = rnd.nextLong();
                                long[][] results = new long[3][];
                                for (int mode = 0; mode < 3; mode++) {
                                    cpu.r[X86Vcpu.RAX] = a;
                                    cpu.r[X86Vcpu.RBX] = bv;
                                    cpu.r[X86Vcpu.RCX] = 0x1111;
                                    cpu.rflags = Flags.FIXED;
                                    cpu.rip = 0x1000;
                                    switch (mode) {
                                        case 0 -> {
                                            cpu.step();
                                            cpu.step();
                                            cpu.step();
                                        }
                                        case 1 -> {
                                            cpu.stepDecodedUncached();
                                            cpu.stepDecodedUncached();
                                            cpu.stepDecodedUncached();
                                        }
                                        default -> cpu.stepCompiledUncached(3);
                                    }
                                    cpu.materialize();
                                    results[mode] = new long[] {cpu.r[X86Vcpu.RAX], cpu.r[X86Vcpu.RCX], cpu.rflags, cpu.rip};
                                }
                                for (int mode = 1; mode < 3; mode++) {
                                    if (!java.util.Arrays.equals(results[0], results[mode]) && bad.size() < 30) {
                                        bad.add(String.format("%s a=%x b=%x: interpreter %s, %s %s", java.util.HexFormat.of().formatHex(code), a,
                                                bv, hex(results[0]), mode == 1 ? "decoded" : "compiled", hex(results[mode])));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assertTrue(bad.isEmpty(), bad.size() + " differences:\n" + String.join("\n", bad));
    }

    /** ALU op between rax and rbx (or their narrower parts), then a use of condition {@code cc}. */
    private static byte[] code(int alu, int size, int cc, int use) {
        List<Integer> b = new ArrayList<>();
        if (size == 2) {
            b.add(0x66);
        }
        if (size == 8) {
            b.add(0x48);
        }
        b.add(size == 1 ? alu : alu + 1);
        b.add(0xd8); // mod 3, reg rbx, rm rax
        switch (use) {
            case 0 -> { // setcc cl
                b.add(0x0f);
                b.add(0x90 + cc);
                b.add(0xc1);
            }
            case 1 -> { // cmovcc ecx/rcx, edx/rdx
                if (size == 8) {
                    b.add(0x48);
                }
                b.add(0x0f);
                b.add(0x40 + cc);
                b.add(0xca);
            }
            default -> { // jcc +0x10
                b.add(0x70 + cc);
                b.add(0x10);
            }
        }
        byte[] out = new byte[b.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) (int) b.get(i);
        }
        return out;
    }

    private static String hex(long[] v) {
        StringBuilder s = new StringBuilder("[");
        for (long x : v) {
            s.append(String.format(" %x", x));
        }
        return s.append(" ]").toString();
    }
}
