package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * One {@link Decoder} serves the interpreter and the decoded path ({@link Insn} is built from it);
 * its lengths are checked against GNU objdump's over every opcode map and mode, the interpreter's
 * semantics against the host CPU. Random instruction bytes (biased to the forms the decoder takes, with random prefixes,
 * REX bits, ModRM/SIB forms and displacements), in 64- and 32-bit mode, with registers pointing
 * into RAM or anywhere: whatever the decoder does not leave to the interpreter must do exactly what
 * the interpreter does — registers, flags, rip, memory, the fault raised or the exit taken — both
 * decoded and compiled.
 */
class DecoderFuzzTest {
    private static final int RAM = 1 << 16;
    private static final int[] OPCODES = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x08, 0x09, 0x0b, 0x11, 0x19, 0x21, 0x23, 0x29, 0x2b, 0x31,
        0x33, 0x38, 0x39, 0x3b, 0x3d, 0x40, 0x48, 0x4f, 0x50, 0x53, 0x58, 0x5d, 0x63, 0x69, 0x6b, 0x74, 0x7c, 0x80, 0x81, 0x83, 0x84,
        0x85, 0x88, 0x89, 0x8a, 0x8b, 0x8d, 0x90, 0x98, 0x99, 0xa8, 0xa9, 0xb0, 0xb4, 0xb8, 0xbf, 0xc0, 0xc1, 0xc3, 0xc6, 0xc7, 0xd0,
        0xd1, 0xd3, 0xe8, 0xe9, 0xeb, 0xf6, 0xf7, 0xfe, 0xff};
    private static final int[] TWO_BYTE = {0x0d, 0x18, 0x1f, 0x44, 0x4c, 0x84, 0x8f, 0x94, 0x9c, 0xaf, 0xb6, 0xb7, 0xbe, 0xbf};
    private static final int[] PREFIXES = {0x66, 0x67, 0x64, 0x65, 0x2e, 0x3e};

    private TestGuest guest;
    private X86Vcpu cpu;
    private MemorySegment ram;
    private final byte[] image = new byte[RAM];
    private final List<String> bad = new ArrayList<>();
    private int compared;

    @BeforeEach
    void guest() {
        guest = new TestGuest("fuzz", RAM, PageState.SHARED);
        cpu = new X86Vcpu(0, guest.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0);
        ram = guest.view.guestSegment(guest.view.table().slotAt(0).id());
    }

    @AfterEach
    void close() {
        guest.close();
    }

    @Test
    void decodedAndCompiledDoWhatTheInterpreterDoes() {
        Random rnd = new Random(2026);
        for (int n = 0; n < 30_000 && bad.size() < 20; n++) {
            boolean code64 = rnd.nextInt(4) != 0;
            byte[] code = instruction(rnd, code64);
            rnd.nextBytes(image);
            System.arraycopy(code, 0, image, 0x1000, code.length);
            long[] regs = new long[16];
            for (int i = 0; i < 16; i++) {
                regs[i] = switch (rnd.nextInt(4)) {
                    case 0 -> rnd.nextLong();
                    case 1 -> rnd.nextInt(16);
                    default -> 0x2000 + rnd.nextInt(RAM - 0x4000); // into RAM
                };
            }
            guest.memory.write(0, MemorySegment.ofArray(image));
            Insn in = Insn.decode(ram, 0x1000, code64);
            if (in.kind != Insn.GENERIC) {
                threeWays(code64, 1, in.len, regs, Flags.FIXED | (rnd.nextLong() & Flags.ARITH));
            }
        }
        assertTrue(compared > 10_000, "only " + compared + " instructions took the decoded path");
        assertTrue(bad.isEmpty(), bad.size() + " differences:\n" + String.join("\n", bad));
    }

    /**
     * Runs of two to five decodable instructions (control transfers only last): the lazy flags of
     * one meet the next (a shift's CF read by INC, a CMP's by SETcc...), and a fault or exit in the
     * middle of a compiled block must leave what the interpreter leaves.
     */
    @Test
    void runsOfInstructionsMatchTheInterpreter() {
        Random rnd = new Random(2027);
        for (int n = 0; n < 8_000 && bad.size() < 20; n++) {
            boolean code64 = rnd.nextInt(4) != 0;
            rnd.nextBytes(image);
            int count = 2 + rnd.nextInt(4);
            int at = 0x1000;
            int built = 0;
            while (built < count) {
                byte[] insn = instruction(rnd, code64);
                System.arraycopy(insn, 0, image, at, insn.length);
                guest.memory.write(0, MemorySegment.ofArray(image));
                Insn in = Insn.decode(ram, at, code64);
                boolean transfer = switch (in.kind) {
                    case Insn.JCC, Insn.JMP, Insn.CALL, Insn.RET, Insn.JMP_IND, Insn.CALL_IND -> true;
                    default -> false;
                };
                if (in.kind == Insn.GENERIC || transfer && built < count - 1) {
                    continue; // draw again
                }
                at += in.len;
                built++;
            }
            long[] regs = new long[16];
            for (int i = 0; i < 16; i++) {
                regs[i] = rnd.nextInt(3) == 0 ? rnd.nextLong() : 0x2000 + rnd.nextInt(RAM - 0x4000);
            }
            threeWays(code64, count, at - 0x1000, regs, Flags.FIXED | (rnd.nextLong() & Flags.ARITH));
        }
        assertTrue(compared > 5_000, "only " + compared + " runs compared");
        assertTrue(bad.isEmpty(), bad.size() + " differences:\n" + String.join("\n", bad));
    }

    /**
     * The forms left to the interpreter that the decoded path runs with ops of their own
     * (SystemOps: PUSHF, POPF, CLI, STI, PUSH imm, MOV from a segment register), with random
     * prefixes, arithmetic flags, IF, DF, AC, ID, IOPL and CPL: what the interpreter does, the #GP of
     * CLI/STI above IOPL, POPF's IF kept above IOPL and STI's interrupt shadow included.
     */
    @Test
    void systemFormsMatchTheInterpreter() {
        Random rnd = new Random(2028);
        int[][] forms = {{0x9c}, {0x9d}, {0xfa}, {0xfb}, {0x68}, {0x6a}, {0x8c, 0xc0}, {0x8c, 0xd8}, {0x8c, 0xf9}, {0x8c, 0xe3}};
        for (int n = 0; n < 4_000 && bad.size() < 20; n++) {
            boolean code64 = rnd.nextInt(4) != 0;
            rnd.nextBytes(image);
            int at = 0x1000;
            if (rnd.nextInt(3) == 0) {
                image[at++] = (byte) (rnd.nextBoolean() ? 0x66 : PREFIXES[rnd.nextInt(PREFIXES.length)]);
            }
            if (code64 && rnd.nextBoolean()) {
                image[at++] = (byte) (0x40 | rnd.nextInt(16));
            }
            int[] form = forms[rnd.nextInt(forms.length)];
            for (int b : form) {
                image[at++] = (byte) b;
            }
            long[] regs = new long[16];
            for (int i = 0; i < 16; i++) {
                regs[i] = rnd.nextInt(3) == 0 ? rnd.nextLong() : 0x2000 + rnd.nextInt(RAM - 0x4000);
            }
            long flags = Flags.FIXED | (rnd.nextLong() & (Flags.ARITH | Flags.IF | Flags.DF | 0x3000L | 0x40000L | 0x200000L));
            cpl = rnd.nextInt(4) == 0 ? 3 : 0;
            threeWays(code64, 1, at - 0x1000 + 4, regs, flags);
        }
        cpl = 0;
        assertTrue(bad.isEmpty(), bad.size() + " differences:\n" + String.join("\n", bad));
        assertTrue(compared > 3_000, "only " + compared + " compared");
    }

    /** The CPL threeWays runs at. */
    private int cpl;

    /**
     * The decoder's length of random instructions (any legacy prefixes, a REX in 64-bit mode, an
     * opcode of any map, random ModRM/SIB/displacement/immediate bytes) against GNU objdump's, in
     * 16-, 32- and 64-bit code; 64-bit code as Intel reads it (objdump -M intel64: 0x66 on a near
     * branch ignored, as CPUID's vendor says). Left out: what the decoder calls undefined or objdump
     * "(bad)", and FWAIT, which objdump merges with the next instruction.
     */
    @Test
    void lengthsMatchObjdump() throws Exception {
        Random rnd = new Random(2028);
        int compared = 0;
        List<String> wrong = new ArrayList<>();
        for (int mode : new int[] {16, 32, 64}) {
            int cases = 6_000;
            byte[] image = new byte[cases * SLOT];
            int[] ours = new int[cases];
            for (int c = 0; c < cases; c++) {
                byte[] b = anyInstruction(rnd, mode == 64);
                ArrayDecoder d = new ArrayDecoder(b);
                if (c % 2 == 0) { // half through the window the interpreter and the decoded path read RAM with
                    java.nio.ByteBuffer w = java.nio.ByteBuffer.wrap(Arrays.copyOf(b, 16)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                    d.window(w.getLong(0), w.getLong(8));
                }
                try {
                    d.decode(mode == 64, mode == 16);
                    ours[c] = d.undefined || d.map == Decoder.MAP_ONE && d.op == 0x9b ? 0 : d.len;
                } catch (ArrayDecoder.TooLong e) {
                    ours[c] = 0;
                }
                System.arraycopy(b, 0, image, c * SLOT, b.length);
                Arrays.fill(image, c * SLOT + b.length, (c + 1) * SLOT, (byte) 0x90); // realigns objdump before the next slot
            }
            int[] theirs = objdumpLengths(image, mode);
            for (int c = 0; c < cases; c++) {
                if (ours[c] == 0 || theirs[c] <= 0) {
                    continue;
                }
                compared++;
                if (ours[c] != theirs[c] && wrong.size() < 20) {
                    wrong.add(mode + "-bit " + HexFormat.of().formatHex(image, c * SLOT, c * SLOT + 15) + ": decoder " + ours[c]
                            + ", objdump " + theirs[c]);
                }
            }
        }
        assertTrue(compared > 8_000, "only " + compared + " instructions compared");
        assertTrue(wrong.isEmpty(), wrong.size() + " lengths differ:\n" + String.join("\n", wrong));
    }

    private static final int SLOT = 32;
    private static final Pattern LINE = Pattern.compile("^\\s*([0-9a-f]+):\\t((?:[0-9a-f]{2} )+)\\s*\\t?(.*)$");

    /** objdump's length of the instruction at the start of each slot: -1 where it says (bad) or does not start one there. */
    private static int[] objdumpLengths(byte[] image, int mode) throws IOException, InterruptedException {
        Path bin = Files.createTempFile("decoder", ".bin");
        try {
            Files.write(bin, image);
            String machine = mode == 64 ? "i386:x86-64" : mode == 32 ? "i386" : "i8086";
            Process p;
            try {
                p = new ProcessBuilder("objdump", "-D", "-b", "binary", "-m", machine, "-M", mode == 64 ? "intel64" : "att", "--insn-width=16",
                        bin.toString())
                        .redirectErrorStream(true).start();
            } catch (IOException e) {
                assumeTrue(false, "objdump (GNU binutils) is not installed: " + e.getMessage());
                throw e;
            }
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0, "objdump failed: " + out.lines().limit(5).toList());
            int[] len = new int[image.length / SLOT];
            Arrays.fill(len, -1);
            for (String line : out.split("\n")) {
                Matcher m = LINE.matcher(line);
                if (!m.matches()) {
                    continue;
                }
                int at = Integer.parseInt(m.group(1), 16);
                if (at % SLOT == 0 && !m.group(3).contains("(bad)")) {
                    len[at / SLOT] = m.group(2).trim().split(" ").length;
                }
            }
            return len;
        } finally {
            Files.delete(bin);
        }
    }

    /** Up to three legacy prefixes, a REX right before the opcode (64-bit mode), any opcode of any map, random bytes. */
    private static byte[] anyInstruction(Random rnd, boolean code64) {
        byte[] b = new byte[15];
        rnd.nextBytes(b);
        int i = 0;
        for (int p = rnd.nextInt(4); p > 0; p--) {
            b[i++] = (byte) LEGACY_PREFIXES[rnd.nextInt(LEGACY_PREFIXES.length)];
        }
        if (code64 && rnd.nextBoolean()) {
            b[i++] = (byte) (0x40 | rnd.nextInt(16));
        }
        switch (rnd.nextInt(4)) {
            case 0, 1 -> {
                int op;
                do {
                    op = rnd.nextInt(256);
                } while (isPrefix(op, code64));
                b[i] = (byte) op;
            }
            case 2 -> b[i] = 0x0f;
            default -> {
                b[i++] = 0x0f;
                b[i] = (byte) (rnd.nextBoolean() ? 0x38 : 0x3a);
            }
        }
        return b;
    }

    private static final int[] LEGACY_PREFIXES = {0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65};

    private static boolean isPrefix(int b, boolean code64) {
        for (int p : LEGACY_PREFIXES) {
            if (p == b) {
                return true;
            }
        }
        return code64 && (b & 0xf0) == 0x40;
    }

    /** The decoder over a byte array. */
    private static final class ArrayDecoder extends Decoder {
        static final class TooLong extends RuntimeException {
            private static final long serialVersionUID = 1L;
        }

        private final byte[] bytes;

        ArrayDecoder(byte[] bytes) {
            this.bytes = bytes;
        }

        @Override
        int u8(int k) {
            return bytes[k] & 0xff;
        }

        @Override
        RuntimeException tooLong() {
            return new TooLong();
        }
    }

    /**
     * Runs {@code count} instructions of the image at 0x1000 interpreted, decoded and compiled (an
     * exit or fault ends the run, as it ends a block); records where the outcomes differ.
     */
    private void threeWays(boolean code64, int count, int codeLength, long[] regs, long flags) {
        String[] outcome = new String[3];
        for (int mode = 0; mode < 3; mode++) {
            guest.memory.write(0, MemorySegment.ofArray(image));
            System.arraycopy(regs, 0, cpu.r, 0, 16);
            cpu.rflags = flags;
            cpu.rip = 0x1000;
            cpu.code64 = code64;
            cpu.flatSegments(); // an earlier case may have loaded a segment with a base
            cpu.cs = (cpu.cs & ~3) | cpl;
            cpu.shadowRetired = -1;
            long retired0 = cpu.instructions();
            String event = "completed";
            try {
                if (mode == 2) {
                    cpu.stepCompiledUncached(count);
                } else {
                    for (int i = 0; i < count && !cpu.hasPendingExit(); i++) {
                        if (mode == 0) {
                            cpu.step();
                        } else {
                            cpu.stepDecodedUncached();
                        }
                    }
                }
            } catch (X86Vcpu.Fault f) {
                event = "fault " + f.vector;
            } catch (X86Vcpu.Retry r) {
                event = "retry";
            }
            cpu.materialize();
            var exit = cpu.takePendingExit();
            byte[] mem = new byte[RAM];
            guest.memory.read(0, MemorySegment.ofArray(mem));
            outcome[mode] = event + " exit=" + exit + " retired=" + (cpu.instructions() - retired0) + " rip=" + Long.toHexString(cpu.rip)
                    + " flags=" + Long.toHexString(cpu.rflags) + " regs=" + Arrays.toString(cpu.r) + " mem=" + Arrays.hashCode(mem)
                    + " shadow=" + (cpu.shadowRetired == cpu.retired);
        }
        compared++;
        for (int mode = 1; mode < 3; mode++) {
            if (!outcome[0].equals(outcome[mode])) {
                bad.add((code64 ? "64-bit " : "32-bit ") + HexFormat.of().formatHex(image, 0x1000, 0x1000 + codeLength) + "\n  interpreter "
                        + outcome[0] + "\n  " + (mode == 1 ? "decoded     " : "compiled    ") + outcome[mode]);
                return;
            }
        }
    }

    /** Prefixes, a REX byte (64-bit mode), an opcode the decoder knows, then random bytes. */
    private static byte[] instruction(Random rnd, boolean code64) {
        byte[] b = new byte[15];
        rnd.nextBytes(b);
        int i = 0;
        for (int p = rnd.nextInt(3); p > 0; p--) {
            b[i++] = (byte) PREFIXES[rnd.nextInt(PREFIXES.length)];
        }
        if (code64 && rnd.nextBoolean()) {
            b[i++] = (byte) (0x40 | rnd.nextInt(16));
        }
        if (rnd.nextInt(5) == 0) {
            b[i++] = 0x0f;
            b[i] = (byte) TWO_BYTE[rnd.nextInt(TWO_BYTE.length)];
        } else {
            b[i] = (byte) OPCODES[rnd.nextInt(OPCODES.length)];
        }
        return b;
    }
}
