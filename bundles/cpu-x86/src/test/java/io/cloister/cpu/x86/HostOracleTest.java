package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * The host CPU is the oracle: src/test/c/alu_oracle.c, compiled with gcc at test time, runs each
 * instruction template natively on random operands and prints inputs, outputs and the flags the
 * architecture defines; every line is replayed on the emulator and must match.
 */
class HostOracleTest {
    @Test
    void integerInstructionsMatchTheHostCpu() throws Exception {
        assumeTrue(System.getProperty("os.arch").equals("amd64"), "the oracle needs an x86-64 host");
        Path src = Path.of("src/test/c/alu_oracle.c").toAbsolutePath();
        Path exe = Path.of("target/alu_oracle").toAbsolutePath();
        Process cc;
        try {
            cc = new ProcessBuilder("gcc", "-O1", "-mno-red-zone", "-o", exe.toString(), src.toString()).redirectErrorStream(true).start();
        } catch (java.io.IOException e) {
            assumeTrue(false, "gcc is not installed: " + e.getMessage());
            return;
        }
        String ccOut = new String(cc.getInputStream().readAllBytes());
        assertTrue(cc.waitFor(60, TimeUnit.SECONDS) && cc.exitValue() == 0, "gcc failed: " + ccOut);
        Process run = new ProcessBuilder(exe.toString(), "150", "12345").start();
        List<String> lines = new String(run.getInputStream().readAllBytes()).lines().toList();
        assertTrue(run.waitFor(60, TimeUnit.SECONDS) && run.exitValue() == 0);
        assertTrue(lines.size() > 10_000, "oracle printed " + lines.size() + " lines");

        List<String> mismatches = new ArrayList<>();
        try (TestGuest g = new TestGuest("oracle", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, io.cloister.api.backend.CocoCpu.NONE, 0x1000, 0);
            cpu.code64 = true; // long-mode decoding; paging stays off, so addresses are physical
            // Each line runs three times: interpreted, decoded (lazy flags), and compiled to bytecode.
            List<Long> starts = new ArrayList<>();
            for (String line : lines) for (int mode = 0; mode < 3; mode++) {
                String decoded = new String[] {"", " (decoded)", " (compiled)"}[mode];
                String[] f = line.split(" ");
                byte[] code = HexFormat.of().parseHex(f[1]);
                long[] in = new long[5];
                long[] out = new long[5];
                for (int i = 0; i < 5; i++) {
                    in[i] = Long.parseUnsignedLong(f[2 + i], 16);
                    out[i] = Long.parseUnsignedLong(f[7 + i], 16);
                }
                long flagMask = Long.parseUnsignedLong(f[12], 16);
                int regMask = Integer.parseInt(f[13], 16);
                g.memory.write(0x1000, MemorySegment.ofArray(code));
                cpu.rip = 0x1000;
                cpu.r[X86Vcpu.RAX] = in[0];
                cpu.r[X86Vcpu.RBX] = in[1];
                cpu.r[X86Vcpu.RCX] = in[2];
                cpu.r[X86Vcpu.RDX] = in[3];
                cpu.rflags = in[4];
                // A line may be a short sequence: the interpreter's steps give where each instruction
                // starts; the compiled mode makes one block of all of them (more, where a form the
                // blocks leave to the interpreter splits it).
                long end = 0x1000 + code.length;
                if (mode == 0) {
                    starts.clear();
                }
                for (int guard = 0; cpu.rip != end && guard < 16; guard++) {
                    long at = cpu.rip;
                    switch (mode) {
                        case 0 -> {
                            starts.add(at);
                            cpu.step();
                        }
                        case 1 -> cpu.stepDecodedUncached();
                        default -> cpu.stepCompiledUncached((int) starts.stream().filter(a -> a >= at).count());
                    }
                }
                cpu.materialize();
                long[] got = {cpu.r[X86Vcpu.RAX], cpu.r[X86Vcpu.RBX], cpu.r[X86Vcpu.RCX], cpu.r[X86Vcpu.RDX]};
                StringBuilder bad = new StringBuilder();
                for (int i = 0; i < 4; i++) {
                    if ((regMask & (1 << i)) != 0 && got[i] != out[i]) {
                        bad.append(String.format(" r%d=%x want %x%s", i, got[i], out[i], decoded));
                    }
                }
                if ((cpu.rflags & flagMask) != (out[4] & flagMask)) {
                    bad.append(String.format(" flags=%x want %x (mask %x)%s", cpu.rflags & flagMask, out[4] & flagMask, flagMask,
                            decoded));
                }
                assertEquals(0x1000 + code.length, cpu.rip, line);
                if (!bad.isEmpty() && mismatches.size() < 40) {
                    mismatches.add(line + " ->" + bad);
                }
            }
        }
        assertTrue(mismatches.isEmpty(), mismatches.size() + " mismatches:\n" + String.join("\n", mismatches));
    }
}
