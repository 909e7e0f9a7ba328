package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
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
 * The decoder fuzz test for the x87, MMX and SSE maps: random bytes after 0F (with random 66, F2,
 * F3 and REX prefixes) and after D8-DF, in 64- and 32-bit mode, with random CR0.EM/TS/MP/NE,
 * CR4.OSFXSR/OSXMMEXCPT, MXCSR (unmasked exceptions included) and x87 state. Whatever runs must end
 * in a completed instruction or a guest fault (no VMM exception), and the three execution modes
 * must agree on registers, flags, memory, x87/SSE state and the fault.
 */
class SimdFuzzTest {
    private static final int RAM = 1 << 16;

    @Test
    void x87AndSseOpcodeMapsNeverEscapeTheGuest() {
        Random rnd = new Random(2028);
        List<String> bad = new ArrayList<>();
        int faults = 0;
        int completed = 0;
        try (TestGuest guest = new TestGuest("simd-fuzz", RAM, PageState.SHARED)) {
            X86Vcpu cpu = new X86Vcpu(0, guest.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0);
            byte[] image = new byte[RAM];
            for (int n = 0; n < 25_000 && bad.size() < 20; n++) {
                boolean code64 = rnd.nextInt(4) != 0;
                rnd.nextBytes(image);
                byte[] code = instruction(rnd, code64);
                System.arraycopy(code, 0, image, 0x1000, code.length);
                long[] regs = new long[16];
                for (int i = 0; i < 16; i++) {
                    regs[i] = rnd.nextInt(3) == 0 ? rnd.nextLong() : 0x2000 + (rnd.nextInt(RAM - 0x4000) & ~(rnd.nextBoolean() ? 15 : 0));
                }
                long cr0 = X86Vcpu.CR0_PE | X86Vcpu.CR0_ET | (rnd.nextInt(8) == 0 ? FpuInsns.CR0_EM : 0)
                        | (rnd.nextInt(8) == 0 ? FpuInsns.CR0_TS : 0) | (rnd.nextBoolean() ? FpuInsns.CR0_MP : 0) | (rnd.nextBoolean() ? FpuInsns.CR0_NE : 0);
                long cr4 = (rnd.nextInt(8) != 0 ? FpuInsns.CR4_OSFXSR : 0) | (rnd.nextBoolean() ? FpuInsns.CR4_OSXMMEXCPT : 0);
                FpuState fpu = new FpuState();
                fpu.mxcsr = (rnd.nextInt() & 0xffff) | (rnd.nextBoolean() ? 0x1f80 : 0);
                fpu.fcw = rnd.nextBoolean() ? 0x37f : rnd.nextInt() & 0x1f7f | 0x40;
                fpu.setStatus(rnd.nextInt(4) == 0 ? rnd.nextInt() & 0xffff : rnd.nextInt(8) << 11);
                fpu.tags = rnd.nextInt(256);
                for (int i = 0; i < 8; i++) {
                    fpu.st[i] = rnd.nextLong();
                    fpu.se[i] = rnd.nextInt() & 0xffff;
                }
                for (int i = 0; i < 32; i++) {
                    fpu.xmm[i] = rnd.nextLong();
                }
                String[] outcome = new String[3];
                for (int mode = 0; mode < 3; mode++) {
                    guest.memory.write(0, MemorySegment.ofArray(image));
                    System.arraycopy(regs, 0, cpu.r, 0, 16);
                    cpu.rflags = Flags.FIXED;
                    cpu.rip = 0x1000;
                    cpu.code64 = code64;
                    cpu.cr0 = cr0;
                    cpu.cr4 = cr4;
                    cpu.flatSegments(); // an earlier case may have loaded a segment or cleared CR0.PE
                    copy(fpu, cpu.fpu);
                    cpu.random = sameRandom(); // RDRAND/RDSEED (0F C7 /6, /7) give each path the same value
                    String event = "completed";
                    try {
                        switch (mode) {
                            case 0 -> cpu.step();
                            case 1 -> cpu.stepDecodedUncached();
                            default -> cpu.stepCompiledUncached(1);
                        }
                    } catch (X86Vcpu.Fault f) {
                        event = "fault " + f.vector;
                    } catch (X86Vcpu.Retry r) {
                        event = "retry";
                    } catch (RuntimeException e) {
                        bad.add(HexFormat.of().formatHex(code) + ": " + e);
                        break;
                    }
                    cpu.materialize();
                    byte[] mem = new byte[RAM];
                    guest.memory.read(0, MemorySegment.ofArray(mem));
                    FpuState s = cpu.fpu;
                    outcome[mode] = event + " exit=" + cpu.takePendingExit() + " rip=" + Long.toHexString(cpu.rip) + " flags="
                            + Long.toHexString(cpu.rflags) + " regs=" + Arrays.toString(cpu.r) + " mem=" + Arrays.hashCode(mem) + " fpu="
                            + Arrays.toString(s.st) + Arrays.toString(s.se) + Arrays.toString(s.xmm) + " " + s.fcw + " " + s.status() + " "
                            + s.tags + " " + s.mxcsr;
                }
                if (outcome[2] == null) {
                    continue;
                }
                if (outcome[0].startsWith("fault")) {
                    faults++;
                } else {
                    completed++;
                }
                for (int mode = 1; mode < 3; mode++) {
                    if (!outcome[0].equals(outcome[mode])) {
                        bad.add((code64 ? "64-bit " : "32-bit ") + HexFormat.of().formatHex(code) + "\n  interpreter " + outcome[0] + "\n  mode "
                                + mode + " " + outcome[mode]);
                        break;
                    }
                }
            }
        }
        assertTrue(bad.isEmpty(), bad.size() + " problems:\n" + String.join("\n", bad));
        assertTrue(completed > 3_000 && faults > 600, completed + " completed, " + faults + " faulted");
    }

    private static void copy(FpuState from, FpuState to) {
        System.arraycopy(from.st, 0, to.st, 0, 8);
        System.arraycopy(from.se, 0, to.se, 0, 8);
        System.arraycopy(from.xmm, 0, to.xmm, 0, 32);
        to.fcw = from.fcw;
        to.setStatus(from.status());
        to.tags = from.tags;
        to.mxcsr = from.mxcsr;
    }

    /** Prefixes (66, F2, F3, REX in 64-bit mode), then 0F and a random byte, or D8-DF, or 9B; random bytes after. */
    private static byte[] instruction(Random rnd, boolean code64) {
        byte[] b = new byte[15];
        rnd.nextBytes(b);
        int i = 0;
        for (int p = rnd.nextInt(3); p > 0; p--) {
            b[i++] = (byte) new int[] {0x66, 0xf2, 0xf3, 0x66, 0x67, 0x64}[rnd.nextInt(6)];
        }
        if (code64 && rnd.nextBoolean()) {
            b[i++] = (byte) (0x40 | rnd.nextInt(16));
        }
        int kind = rnd.nextInt(10);
        if (kind < 6) {
            b[i++] = 0x0f;
            if (rnd.nextInt(4) == 0) {
                b[i] = (byte) (0x50 + rnd.nextInt(0x30)); // the dense SSE rows
            } else if (b[i] == 0x31 || b[i] == 0x01) {
                b[i] = 0x10; // not RDTSC or RDTSCP (0F 01 F9): their values differ between runs
            }
        } else if (kind < 9) {
            b[i] = (byte) (0xd8 + rnd.nextInt(8));
        } else {
            b[i] = (byte) 0x9b;
        }
        if (rnd.nextInt(3) == 0 && i + 1 < b.length) {
            b[i + 1] = (byte) (0xc0 | rnd.nextInt(64)); // register forms
        }
        return b;
    }

    /** A generator whose output depends only on its seed (SHA1PRNG seeded before its first use). */
    private static java.security.SecureRandom sameRandom() {
        try {
            java.security.SecureRandom r = java.security.SecureRandom.getInstance("SHA1PRNG");
            r.setSeed(42);
            return r;
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
