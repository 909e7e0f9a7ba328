package io.cloister.cpu.x86;

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
 * The decoded path has its own decoder ({@link Insn}); the interpreter's is checked against the
 * host CPU. Random instruction bytes (biased to the forms the decoder takes, with random prefixes,
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
    private static final int[] TWO_BYTE = {0x1f, 0x44, 0x4c, 0x84, 0x8f, 0x94, 0x9c, 0xaf, 0xb6, 0xb7, 0xbe, 0xbf};
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
                    + " flags=" + Long.toHexString(cpu.rflags) + " regs=" + Arrays.toString(cpu.r) + " mem=" + Arrays.hashCode(mem);
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
