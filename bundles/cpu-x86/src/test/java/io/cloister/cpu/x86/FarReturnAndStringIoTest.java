package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.List;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * Instructions that raised #UD though they exist (issue 12 item 7): LRET of each operand size and
 * its checks, IRET with a 32-bit frame (a null CS is #GP(0), as on QEMU), XLAT, INS/OUTS with and
 * without REP (each port access an Io exit, like IN/OUT), LOOP/LOOPE/LOOPNE and JrCXZ. Expected
 * values follow the SDM's pseudocode; guests/insns runs the same on QEMU (QemuDifferentialTest)
 * and the loop forms are checked against the host CPU (HostOracleTest).
 */
class FarReturnAndStringIoTest {
    static final long TARGET = 0x1100;

    /** Runs the code at LongMode.CODE with a frame written just below the stack; rip after the final hlt. */
    private static DeviceAccessTest.Machine run(String mode, byte[] code, int frameSize, long... frame) {
        DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode);
        LongMode.code(m.g, LongMode.CODE, code);
        LongMode.code(m.g, TARGET, bytes(0xf4));
        long sp = LongMode.STACK - 64;
        for (int i = 0; i < frame.length; i++) {
            MemorySegment s = MemorySegment.ofArray(new long[1]);
            s.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, frame[i]);
            m.g.memory.write(sp + (long) i * frameSize, s.asSlice(0, frameSize));
        }
        m.cpu.r[X86Vcpu.RSP] = sp;
        return m;
    }

    @ParameterizedTest
    @CsvSource({"0x48, 8", "0x90, 4", "0x66, 2"}) // lretq, lret (32-bit also in 64-bit mode; 0x90 is a nop before it), lretw
    void farReturnPopsRipAndCsOfTheOperandSize(int prefix, int size) {
        for (String mode : new String[] {"interpreted", "decoded", "compiled"}) {
            try (DeviceAccessTest.Machine m = run(mode, bytes(prefix, 0xcb), size, TARGET, 0x08)) {
                assertTrue(m.run(a -> -1) instanceof Exit.Halt);
                assertEquals(TARGET + 1, m.cpu.rip, mode);
                assertEquals(LongMode.STACK - 64 + 2L * size, m.cpu.r[X86Vcpu.RSP], "popped two words");
                assertTrue(m.cpu.code64);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void farReturnReleasesItsImmediate(String mode) {
        try (DeviceAccessTest.Machine m = run(mode, bytes(0x48, 0xca, 0x10, 0x00), 8, TARGET, 0x08)) { // lretq $16
            assertTrue(m.run(a -> -1) instanceof Exit.Halt);
            assertEquals(TARGET + 1, m.cpu.rip);
            assertEquals(LongMode.STACK - 64 + 16 + 16, m.cpu.r[X86Vcpu.RSP]);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void farReturnToA32BitSegmentLeaves64BitMode(String mode) {
        try (DeviceAccessTest.Machine m = run(mode, bytes(0x48, 0xcb), 8, TARGET, 0x18)) {
            assertTrue(m.run(a -> -1) instanceof Exit.Halt);
            assertEquals(TARGET + 1, m.cpu.rip);
            assertEquals(0x18, m.cpu.cs);
            assertFalse(m.cpu.code64, "compatibility mode");
        }
    }

    /** Null: #GP(0); a data segment: #GP(selector); not present: #NP(selector). Nothing changes before. */
    @ParameterizedTest
    @CsvSource({"0, 13, 0", "3, 13, 0", "0x10, 13, 0x10", "0x20, 11, 0x20", "0x80, 13, 0x80"})
    void farReturnChecksTheSelector(int selector, int vector, int error) {
        for (String mode : new String[] {"interpreted", "decoded", "compiled"}) {
            try (DeviceAccessTest.Machine m = run(mode, bytes(0x48, 0xcb), 8, TARGET, selector)) {
                assertTrue(m.run(a -> -1) instanceof Exit.Halt);
                assertEquals(LongMode.handler(vector) + 1, m.cpu.rip, mode + ": vector");
                long sp = m.cpu.r[X86Vcpu.RSP];
                assertEquals(error, LongMode.read(m.g, sp), "error code");
                assertEquals(LongMode.CODE, LongMode.read(m.g, sp + 8), "the lret faulted");
                assertEquals(LongMode.STACK - 64, LongMode.read(m.g, sp + 32), "rsp unchanged by the faulting lret");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void iretqAndIretdPopTheirFrames(String mode) {
        long sp = LongMode.STACK - 64;
        try (DeviceAccessTest.Machine m = run(mode, bytes(0x48, 0xcf), 8, TARGET, 0x08, 0x202 | Flags.CF, 0x7000, 0x10)) {
            assertTrue(m.run(a -> -1) instanceof Exit.Halt);
            assertEquals(TARGET + 1, m.cpu.rip);
            assertEquals(0x7000, m.cpu.r[X86Vcpu.RSP]);
            assertEquals(0x203, m.cpu.flags() & 0xfff);
        }
        try (DeviceAccessTest.Machine m = run(mode, bytes(0xcf), 4, TARGET, 0x08, 0x202, 0x7000, 0x10)) {
            assertTrue(m.run(a -> -1) instanceof Exit.Halt);
            assertEquals(TARGET + 1, m.cpu.rip, "iretd in 64-bit mode pops 4-byte words, ss:esp included");
            assertEquals(0x7000, m.cpu.r[X86Vcpu.RSP]);
            assertEquals(0x10, m.cpu.sreg[2]);
        }
        try (DeviceAccessTest.Machine m = run(mode, bytes(0xcf), 4, TARGET, 0, 0x202, 0x7000, 0x10)) {
            assertTrue(m.run(a -> -1) instanceof Exit.Halt);
            assertEquals(LongMode.handler(X86Vcpu.VEC_GP) + 1, m.cpu.rip, "a null CS: #GP, not a triple fault");
            assertEquals(0, LongMode.read(m.g, m.cpu.r[X86Vcpu.RSP]), "#GP(0)");
            assertEquals(sp, LongMode.read(m.g, m.cpu.r[X86Vcpu.RSP] + 32), "rsp unchanged by the faulting iret");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void xlatLooksUpAl(String mode) {
        byte[] table = new byte[256];
        for (int i = 0; i < 256; i++) {
            table[i] = (byte) (i * 7 + 3);
        }
        try (DeviceAccessTest.Machine m = run(mode, bytes(0xd7, 0xf4), 8)) {
            m.g.memory.write(0x4000, MemorySegment.ofArray(table));
            m.cpu.r[X86Vcpu.RBX] = 0x4000;
            m.cpu.r[X86Vcpu.RAX] = 0x1234567890abcd00L | 200;
            assertTrue(m.run(a -> -1) instanceof Exit.Halt);
            assertEquals(0x1234567890abcd7bL, m.cpu.r[X86Vcpu.RAX]);
        }
    }

    /** LOOPcc and JrCXZ: the branch (to the hlt at +3) or the fall-through (hlt at +2), rCX after, flags kept. */
    @ParameterizedTest
    @CsvSource({
        // opcode, address-size prefix (0x90: none), rcx, zf, taken, rcx after
        "0xe2, 0x90, 5, 0, true, 4", "0xe2, 0x90, 1, 0, false, 0", "0xe2, 0x90, 0, 0, true, -1",
        "0xe2, 0x67, 0x100000001, 0, false, 0", "0xe2, 0x67, 0x100000000, 0, true, 0xffffffff",
        "0xe1, 0x90, 5, 1, true, 4", "0xe1, 0x90, 5, 0, false, 4", "0xe1, 0x90, 1, 1, false, 0",
        "0xe0, 0x90, 5, 0, true, 4", "0xe0, 0x90, 5, 1, false, 4", "0xe0, 0x90, 1, 0, false, 0",
        "0xe3, 0x90, 0, 0, true, 0", "0xe3, 0x90, 0x100000000, 0, false, 0x100000000", "0xe3, 0x67, 0x100000000, 0, true, 0x100000000",
        "0xe3, 0x67, 1, 0, false, 1"})
    void loopsAndJrcxz(int opcode, int prefix, String rcx, int zf, boolean taken, String rcxAfter) {
        for (String mode : new String[] {"interpreted", "decoded", "compiled"}) {
            try (DeviceAccessTest.Machine m = run(mode, bytes(prefix, opcode, 0x01, 0xf4, 0xf4), 8)) {
                m.cpu.r[X86Vcpu.RCX] = Long.decode(rcx);
                long flags = Flags.FIXED | (zf == 1 ? Flags.ZF : 0) | Flags.CF;
                m.cpu.rflags = flags;
                assertTrue(m.run(a -> -1) instanceof Exit.Halt);
                assertEquals(LongMode.CODE + (taken ? 5 : 4), m.cpu.rip, mode + ": taken");
                assertEquals(Long.decode(rcxAfter), m.cpu.r[X86Vcpu.RCX], "rcx");
                assertEquals(flags, m.cpu.flags(), "flags unchanged");
            }
        }
    }

    /** OUTS of each size, once and with REP (forwards and backwards): one Io exit per element, in order. */
    @ParameterizedTest
    @CsvSource({"0x90, 1", "0x66, 2", "0x90, 4"})
    void outsWritesEachElementToThePort(int prefix, int size) {
        int op = size == 1 ? 0x6e : 0x6f;
        for (String mode : new String[] {"interpreted", "decoded", "compiled"}) {
            try (DeviceAccessTest.Machine m = run(mode, bytes(prefix, op, prefix, 0xf3, op, 0xf4), 8)) {
                m.g.memory.write(0x4000, MemorySegment.ofArray(bytes(0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc,
                        0xdd, 0xee, 0xff, 0x10)));
                m.cpu.r[X86Vcpu.RSI] = 0x4000;
                m.cpu.r[X86Vcpu.RDX] = 0x3f8;
                m.cpu.r[X86Vcpu.RCX] = 3;
                assertTrue(m.run(a -> -1) instanceof Exit.Halt);
                List<String> want = new java.util.ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    long v = 0;
                    for (int b = size - 1; b >= 0; b--) {
                        v = v << 8 | (0x11L * (i * size + b + 1)) & 0xff;
                    }
                    want.add(String.format("out 3f8/%d=%x", size, v));
                }
                assertEquals(want, m.accesses, mode);
                assertEquals(0x4000 + 4L * size, m.cpu.r[X86Vcpu.RSI]);
                assertEquals(0, m.cpu.r[X86Vcpu.RCX]);
                assertEquals(LongMode.CODE + 6, m.cpu.rip);
            }
        }
    }

    /** INS of each size, once and with REP: each element read from the port once, stored in order; DF counts down. */
    @ParameterizedTest
    @CsvSource({"0x90, 1", "0x66, 2", "0x90, 4"})
    void insStoresEachAnswer(int prefix, int size) {
        int op = size == 1 ? 0x6c : 0x6d;
        for (String mode : new String[] {"interpreted", "decoded", "compiled"}) {
            try (DeviceAccessTest.Machine m = run(mode, bytes(prefix, op, prefix, 0xf3, op, 0xfd, prefix, op, 0xfc, 0xf4), 8)) {
                m.cpu.r[X86Vcpu.RDI] = 0x4000;
                m.cpu.r[X86Vcpu.RDX] = 0x3ff;
                m.cpu.r[X86Vcpu.RCX] = 3;
                long[] next = {0};
                assertTrue(m.run(port -> 0x0102030405060708L * ++next[0]) instanceof Exit.Halt);
                assertEquals(5, m.accesses.size(), mode + ": " + m.accesses);
                assertTrue(m.accesses.stream().allMatch(a -> a.equals("in 3ff/" + size)), m.accesses.toString());
                for (int i = 0; i < 4; i++) {
                    long got = LongMode.read(m.g, 0x4000 + (long) i * size) & Flags.mask(size);
                    assertEquals(0x0102030405060708L * (i + 1) & Flags.mask(size), got, mode + ": element " + i);
                }
                // std; ins stored the fifth answer at 0x4000 + 4 * size and moved rdi back by one element
                assertEquals(0x0102030405060708L * 5 & Flags.mask(size), LongMode.read(m.g, 0x4000 + 4L * size) & Flags.mask(size));
                assertEquals(0x4000 + 3L * size, m.cpu.r[X86Vcpu.RDI]);
                assertEquals(0, m.cpu.r[X86Vcpu.RCX]);
            }
        }
    }
}
