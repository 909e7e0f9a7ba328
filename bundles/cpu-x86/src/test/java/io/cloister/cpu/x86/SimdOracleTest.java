package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * The host CPU is the oracle for x87, MMX, SSE and SSE2: src/test/c/simd_oracle.c, compiled with
 * gcc at test time, loads random states with FXRSTOR, runs each instruction template natively and
 * prints the FXSAVE image before and after (with the registers, flags and 64 bytes of memory).
 * Every line is replayed here: FXRSTOR of the same image, the instruction interpreted, decoded and
 * compiled, FXSAVE; the image must match the host's bit for bit where the architecture defines it
 * (everything but FOP, FIP and FDP, which this CPU does not record, as AMD's do not without a
 * pending exception): x87 registers, control, status and tag words, MXCSR with its flags, XMM.
 */
class SimdOracleTest {
    static final long CODE = 0x1000, MEM = 0x2000, FX = 0x3000;
    /** fxrstor64 0x3000 and fxsave64 0x3000 (absolute, SIB without base). */
    static final byte[] FXRSTOR = Code.bytes(0x48, 0x0f, 0xae, 0x0c, 0x25, 0x00, 0x30, 0x00, 0x00);
    static final byte[] FXSAVE = Code.bytes(0x48, 0x0f, 0xae, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00);

    static List<String> oracle(String source, String... args) throws Exception {
        assumeTrue(System.getProperty("os.arch").equals("amd64"), "the oracle needs an x86-64 host");
        Path src = Path.of("src/test/c/" + source + ".c").toAbsolutePath();
        Path exe = Path.of("target/" + source).toAbsolutePath();
        Process cc;
        try {
            cc = new ProcessBuilder("gcc", "-O1", "-mno-red-zone", "-o", exe.toString(), src.toString()).redirectErrorStream(true).start();
        } catch (java.io.IOException e) {
            assumeTrue(false, "gcc is not installed: " + e.getMessage());
            return List.of();
        }
        String ccOut = new String(cc.getInputStream().readAllBytes());
        assertTrue(cc.waitFor(60, TimeUnit.SECONDS) && cc.exitValue() == 0, "gcc failed: " + ccOut);
        List<String> cmd = new ArrayList<>(List.of(exe.toString()));
        cmd.addAll(List.of(args));
        Process run = new ProcessBuilder(cmd).start();
        List<String> lines = new String(run.getInputStream().readAllBytes()).lines().toList();
        assertTrue(run.waitFor(60, TimeUnit.SECONDS) && run.exitValue() == 0, "the oracle failed");
        return lines;
    }

    @Test
    void simdInstructionsMatchTheHostCpu() throws Exception {
        List<String> lines = oracle("simd_oracle", "40", "4242");
        assertTrue(lines.size() > 5_000, "oracle printed " + lines.size() + " lines");
        List<String> mismatches = new ArrayList<>();
        int compared = 0;
        java.util.Set<String> reported = new java.util.HashSet<>();
        try (TestGuest g = new TestGuest("simd-oracle", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, io.cloister.api.backend.CocoCpu.NONE, CODE, 0);
            cpu.code64 = true;
            cpu.cr0 |= FpuInsns.CR0_MP | FpuInsns.CR0_NE;
            cpu.cr4 = FpuInsns.CR4_OSFXSR | FpuInsns.CR4_OSXMMEXCPT;
            for (String line : lines) for (int mode = 0; mode < 3; mode++) {
                String how = new String[] {"interpreted", "decoded", "compiled"}[mode];
                String[] f = line.split(" ");
                HexFormat hex = HexFormat.of();
                byte[] insn = hex.parseHex(f[1]);
                byte[] code = new byte[FXRSTOR.length + insn.length + FXSAVE.length];
                System.arraycopy(FXRSTOR, 0, code, 0, FXRSTOR.length);
                System.arraycopy(insn, 0, code, FXRSTOR.length, insn.length);
                System.arraycopy(FXSAVE, 0, code, FXRSTOR.length + insn.length, FXSAVE.length);
                g.memory.write(CODE, MemorySegment.ofArray(code));
                g.memory.write(MEM, MemorySegment.ofArray(hex.parseHex(f[7])));
                byte[] fxIn = Arrays.copyOf(hex.parseHex(f[8]), 512);
                g.memory.write(FX, MemorySegment.ofArray(fxIn));
                long[] regs = new long[5];
                for (int i = 0; i < 5; i++) {
                    regs[i] = Long.parseUnsignedLong(f[2 + i], 16);
                }
                cpu.rip = CODE;
                cpu.r[X86Vcpu.RAX] = regs[0];
                cpu.r[X86Vcpu.RBX] = regs[1];
                cpu.r[X86Vcpu.RCX] = regs[2];
                cpu.r[X86Vcpu.RDX] = regs[3];
                cpu.r[X86Vcpu.RSI] = MEM;
                cpu.r[X86Vcpu.RDI] = FX;
                cpu.rflags = regs[4];
                StringBuilder bad = new StringBuilder();
                try {
                    cpu.step();
                    while (cpu.rip < CODE + FXRSTOR.length + insn.length) { // templates of two instructions run both
                        switch (mode) {
                            case 0 -> cpu.step();
                            case 1 -> cpu.stepDecodedUncached();
                            default -> cpu.stepCompiledUncached(1);
                        }
                    }
                    cpu.materialize();
                    cpu.step();
                } catch (X86Vcpu.Fault e) {
                    bad.append(" fault ").append(e.vector).append(" at ").append(Long.toHexString(cpu.rip));
                }
                long[] got = {cpu.r[X86Vcpu.RAX], cpu.r[X86Vcpu.RBX], cpu.r[X86Vcpu.RCX], cpu.r[X86Vcpu.RDX]};
                for (int i = 0; i < 4; i++) {
                    long want = Long.parseUnsignedLong(f[9 + i], 16);
                    if (got[i] != want) {
                        bad.append(String.format(" r%d=%x want %x", i, got[i], want));
                    }
                }
                long mask = Long.parseUnsignedLong(f[16], 16);
                long wantFlags = Long.parseUnsignedLong(f[13], 16);
                if ((cpu.rflags & mask) != (wantFlags & mask)) {
                    bad.append(String.format(" flags=%x want %x", cpu.rflags & mask, wantFlags & mask));
                }
                byte[] mem = new byte[64];
                g.memory.read(MEM, MemorySegment.ofArray(mem));
                if (!Arrays.equals(mem, hex.parseHex(f[14]))) {
                    bad.append(" mem=").append(hex.formatHex(mem)).append(" want ").append(f[14]);
                }
                byte[] fx = new byte[416];
                g.memory.read(FX, MemorySegment.ofArray(fx));
                byte[] want = hex.parseHex(f[15]);
                for (int i = 0; i < 416; i++) {
                    if ((i < 6 || i >= 24 && (i < 28 || i >= 32)) && fx[i] != want[i]) { // not FOP/FIP/FDP, nor MXCSR_MASK (AMD's has MM)
                        bad.append(" fx[").append(field(i)).append("]=").append(hex.formatHex(fx, i & ~7, (i & ~7) + 8))
                                .append(" want ").append(hex.formatHex(want, i & ~7, (i & ~7) + 8));
                        break;
                    }
                }
                compared++;
                if (!bad.isEmpty()) {
                    if (mismatches.size() < 60 && reported.add(f[0])) { // the first of each template
                        mismatches.add(f[0] + " " + f[1] + " (" + how + ") in: regs " + f[2] + " " + f[3] + " mxcsr "
                                + f[8].substring(48, 56) + " xmm0 " + f[8].substring(320, 352) + " xmm1 " + f[8].substring(352, 384)
                                + " x87 " + f[8].substring(0, 12) + " st0 " + f[8].substring(64, 84) + " st1 " + f[8].substring(96, 116)
                                + " st2 " + f[8].substring(128, 148) + " mem " + f[7].substring(0, 64)
                                + " ->" + bad);
                    }
                    break; // one mode is enough to show a template's mismatch
                }
            }
        }
        assertTrue(mismatches.isEmpty(), mismatches.size() + " mismatches of " + compared + ":\n" + String.join("\n", mismatches));
    }

    /** Names the FXSAVE field at byte i, for the report. */
    static String field(int i) {
        if (i < 24) {
            return "control/status@" + i;
        }
        if (i < 32) {
            return "mxcsr@" + i;
        }
        if (i < 160) {
            return "st" + (i - 32) / 16 + "@" + (i - 32) % 16;
        }
        return "xmm" + (i - 160) / 16 + "@" + (i - 160) % 16;
    }
}
