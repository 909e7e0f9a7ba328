package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.sized;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * Compiled blocks drop the flags of an instruction whose flags a later one overwrites unseen
 * (FlagLiveness). Random straight runs of flag writers, readers (setcc, cmovcc, adc, sbb, inc,
 * dec, rotates, imul, shifts by CL, bsf, bsr, lzcnt), popcnt, bswap and memory forms, on every
 * operand size, must leave the same
 * registers, flags and memory compiled as one block as interpreted one by one.
 */
class FlagLivenessTest {
    private static final long DATA = 0x8000;

    @Test
    void randomRunsAgreeWithTheInterpreter() {
        Random rnd = new Random(2026_12_02);
        List<String> bad = new ArrayList<>();
        int dead = 0;
        try (TestGuest guest = new TestGuest("liveness", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = new X86Vcpu(0, guest.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0);
            cpu.code64 = true; // long-mode decoding; paging stays off
            for (int run = 0; run < 3000; run++) {
                int steps = 2 + rnd.nextInt(9);
                List<int[]> insns = new ArrayList<>();
                for (int i = 0; i < steps; i++) {
                    insns.add(insn(rnd));
                }
                byte[] code = Code.bytes(insns.stream().flatMapToInt(Arrays::stream).toArray());
                List<Insn> decoded = new ArrayList<>();
                MemorySegment ram = cpu.ram;
                guest.memory.write(0x1000, MemorySegment.ofArray(code));
                for (int off = 0; decoded.size() < steps; off += decoded.getLast().len) {
                    decoded.add(Insn.decode(ram, 0x1000 + off, true));
                }
                for (boolean d : FlagLiveness.dead(decoded)) {
                    dead += d ? 1 : 0;
                }
                long[] regs = new long[5];
                for (int i = 0; i < regs.length; i++) {
                    regs[i] = rnd.nextInt(4) == 0 ? new long[] {0, -1, 1, 0x80, 0x7fffffffL, Long.MIN_VALUE}[rnd.nextInt(6)] : rnd.nextLong();
                }
                long flags = Flags.FIXED | (rnd.nextLong() & Flags.ARITH);
                long[][] out = new long[2][];
                for (int mode = 0; mode < 2; mode++) {
                    System.arraycopy(regs, 0, cpu.r, 0, 4);
                    cpu.r[X86Vcpu.RSI] = DATA;
                    ram.set(ValueLayout.JAVA_LONG_UNALIGNED, DATA, regs[4]);
                    cpu.rflags = flags;
                    cpu.rip = 0x1000;
                    long end = 0x1000 + code.length;
                    while (cpu.rip != end) { // a form blocks leave to the interpreter ends a block: the next one starts after it
                        if (mode == 0) {
                            cpu.step();
                        } else {
                            int done = 0;
                            for (long at = 0x1000; at < cpu.rip; at += decoded.get(done++).len) {
                                // count the instructions before rip: the block must not run past the code
                            }
                            cpu.stepCompiledUncached(steps - done);
                        }
                    }
                    cpu.materialize();
                    out[mode] = new long[] {cpu.r[0], cpu.r[1], cpu.r[2], cpu.r[3], cpu.rflags, cpu.rip,
                        ram.get(ValueLayout.JAVA_LONG_UNALIGNED, DATA)};
                }
                if (!Arrays.equals(out[0], out[1]) && bad.size() < 20) {
                    bad.add(HexFormat.of().formatHex(code) + " from " + Arrays.toString(regs) + " flags " + Long.toHexString(flags) + ": interpreted " + Arrays.toString(out[0]) + ", compiled " + Arrays.toString(out[1]));
                }
            }
        }
        assertTrue(bad.isEmpty(), bad.size() + " differences:\n" + String.join("\n", bad));
        assertTrue(dead > 1000, "the runs drop flags often enough to test it: " + dead);
    }

    /**
     * The rule itself on fixed runs (true: the flags standing after that instruction are overwritten
     * unseen): a writer is dead before another writer, live before a reader,
     * a possible fault, the block's end, and when it writes memory itself (a write into code or MMIO
     * ends the block right after it).
     */
    @Test
    void deadOnlyWhereNothingCanSeeTheFlags() {
        assertDead("01 d8 | 29 d8", true, false); // add eax, ebx; sub eax, ebx
        assertDead("01 d8 | 0f 94 c1", false, false); // add; sete cl
        assertDead("01 d8 | 89 c1 | 85 c0", true, true, false); // add; mov ecx, eax; test eax, eax
        assertDead("01 d8 | 8b 06 | 85 c0", false, true, false); // add; mov eax, [rsi] (may fault); test
        assertDead("01 06 | 29 d8", false, false); // add [rsi], eax (writes memory); sub eax, ebx
        assertDead("48 0f af c3 | 31 c0", true, false); // imul rax, rbx; xor eax, eax
        assertDead("31 c0 | 48 0f af c3 | 31 c0", true, true, false); // imul writes all six (Alu.imulFast): xor dead
        assertDead("31 c0 | ff c0 | 31 c0", false, true, false); // inc keeps CF: xor live
        assertDead("31 c0 | d3 e0 | 31 c0", false, true, false); // shl eax, cl: a count of 0 keeps all
        assertDead("31 c0 | c1 c0 05 | 31 c0", false, true, false); // rol keeps SF ZF AF PF: xor kept live
        assertDead("31 c0 | c1 c0 05 | 74 00", false, false, false); // ...which a jz reads through the rol
        assertDead("c1 c0 05 | c1 c8 03 | 31 c0", true, true, false); // rol; ror (SHA-256's rounds): the first's CF OF unseen
        assertDead("c1 c0 05 | c1 c8 03 | 0f 92 c1", true, false, false); // rol; ror; setc cl: the second's CF seen
        assertDead("c1 c0 05 | d1 d0 | 31 c0", false, true, false); // rol; rcl eax, 1 reads the rol's CF
        assertDead("c1 c0 05 | 8b 06 | c1 c8 03 | 31 c0", false, false, true, false); // a load that may fault between: the rol's seen
        assertDead("31 c0 | c1 e0 00 | 31 c0", true, true, false); // shl eax, 0 touches nothing
        assertDead("31 c0 | c1 e0 03 | 31 c0", true, true, false); // shl eax, 3 writes all
    }

    private static void assertDead(String hex, boolean... expected) {
        String[] parts = hex.split("\\|");
        List<Insn> insns = new ArrayList<>();
        try (TestGuest guest = new TestGuest("rule", 1 << 20, PageState.SHARED)) {
            long at = 0x1000;
            for (String p : parts) {
                byte[] b = HexFormat.of().parseHex(p.replace(" ", ""));
                guest.memory.write(at, MemorySegment.ofArray(b));
                at += b.length;
            }
            X86Vcpu cpu = new X86Vcpu(0, guest.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0);
            at = 0x1000;
            for (int i = 0; i < parts.length; i++) {
                Insn in = Insn.decode(cpu.ram, at, true);
                insns.add(in);
                at += in.len;
            }
        }
        boolean[] dead = FlagLiveness.dead(insns);
        assertTrue(Arrays.equals(expected, dead), hex + ": expected " + Arrays.toString(expected) + ", got " + Arrays.toString(dead));
    }

    /** One random instruction on rax, rcx, rdx, rbx (and [rsi]) at a random operand size. */
    private static int[] insn(Random rnd) {
        int size = new int[] {1, 2, 4, 8}[rnd.nextInt(4)];
        int a = rnd.nextInt(4);
        int b = rnd.nextInt(4);
        int rr = 0xc0 | b << 3 | a; // register-register modrm: rm = a, reg = b
        int w = size == 1 ? 0 : 1; // the byte form is the even opcode
        if (rnd.nextInt(8) == 0) { // bswap, popcnt, bsf, bsr, lzcnt (not on bytes)
            int s = size == 1 ? 4 : size;
            return switch (rnd.nextInt(4)) {
                case 0 -> sized(s == 2 ? 4 : s, 0x0f, 0xc8 | a);
                case 1 -> s == 2 ? new int[] {0x66, 0xf3, 0x0f, 0xb8, rr} : sizedAfterF3(s, 0xb8, rr);
                case 2 -> sized(s, 0x0f, 0xbc | rnd.nextInt(2), rr);
                default -> s == 2 ? new int[] {0x66, 0xf3, 0x0f, 0xbd, rr} : sizedAfterF3(s, 0xbd, rr);
            };
        }
        return switch (rnd.nextInt(16)) {
            case 0, 1, 2 -> sized(size, (rnd.nextInt(8) << 3) | w, rr); // add or adc sbb and sub xor cmp r/m, r
            case 3 -> sized(size, 0x84 | w, rr); // test
            case 4 -> size == 1 ? new int[] {0x80, 0xc0 | rnd.nextInt(8) << 3 | a, rnd.nextInt(256)} // group 1 with imm8
                    : sized(size, 0x83, 0xc0 | rnd.nextInt(8) << 3 | a, rnd.nextInt(256)); // sign-extended imm8
            case 5 -> sized(size, 0xc0 | w, 0xc0 | new int[] {0, 1, 4, 5, 7}[rnd.nextInt(5)] << 3 | a,
                    new int[] {0, 1, 2, 7, 8, 16, 31, 33, 63}[rnd.nextInt(9)]); // rol ror shl shr sar by imm
            case 6 -> sized(size, 0xd2 | w, 0xc0 | new int[] {0, 1, 4, 5, 7}[rnd.nextInt(5)] << 3 | a); // by CL
            case 7 -> sized(size, 0xfe | w, 0xc0 | rnd.nextInt(2) << 3 | a); // inc, dec
            case 8 -> sized(size, 0xf6 | w, 0xc0 | (2 + rnd.nextInt(2)) << 3 | a); // not, neg
            case 9 -> size == 1 ? new int[] {0x0f, 0x90 | rnd.nextInt(16), 0xc0 | a} // setcc
                    : sized(size, 0x0f, 0x40 | rnd.nextInt(16), rr); // cmovcc
            case 10 -> size == 1 ? sized(4, 0x0f, 0xaf, rr) : sized(size, 0x0f, 0xaf, rr); // imul r, r/m
            case 11 -> sized(size == 1 ? 4 : size, 0x6b, rr, rnd.nextInt(256)); // imul r, r/m, imm8
            case 12 -> sized(size, 0x88 | w, rr); // mov
            case 13 -> sized(size == 1 ? 8 : size, 0x8d, 0x44 | a << 3, 0x48, rnd.nextInt(256)); // lea a, [rax + rcx*2 + d8]
            case 14 -> sized(size, (rnd.nextInt(8) << 3) | w, 0x06 | b << 3); // alu [rsi], r: a memory write
            default -> sized(size, (rnd.nextInt(8) << 3) | 2 | w, 0x06 | b << 3); // alu r, [rsi]
        };
    }

    /** F3 0F op modrm at 4 or 8 bytes (REX.W after the F3, where a REX prefix must be). */
    private static int[] sizedAfterF3(int size, int op, int modrm) {
        return size == 8 ? new int[] {0xf3, 0x48, 0x0f, op, modrm} : new int[] {0xf3, 0x0f, op, modrm};
    }
}
