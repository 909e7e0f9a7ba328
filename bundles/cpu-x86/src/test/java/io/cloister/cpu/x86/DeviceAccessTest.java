package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongUnaryOperator;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * Instructions that need several answers from the VMM (MMIO, or memory nobody backs, which the
 * VMM's bus answers with all-ones) complete after one exit per access, each device access made
 * once; before, the answers evicted each other and the vCPU spun for ever. Each case runs
 * interpreted, decoded and compiled, with a bound on exits in place of a hang.
 */
class DeviceAccessTest {
    static final int EXIT_BOUND = 1000;
    static final long HPET = 0xfed00000L;

    /** A vCPU in 64-bit mode over 1 MiB of RAM, and what the VMM saw of it. */
    static final class Machine implements AutoCloseable {
        final TestGuest g = new TestGuest("device-access", 1 << 20, PageState.SHARED);
        final X86Vcpu cpu;
        final List<String> accesses = new ArrayList<>();
        int exits;

        Machine(String mode) {
            X86Engine engine = switch (mode) {
                case "interpreted" -> new X86Engine(false);
                case "decoded" -> new X86Engine(true, Integer.MAX_VALUE);
                default -> new X86Engine(true, 1); // every block compiled on first sight
            };
            cpu = (X86Vcpu) engine.createVm(g.view, CocoCpu.NONE).createVcpu(0, LongMode.CODE, 0);
            LongMode.enter(cpu, g);
        }

        /** Runs to a halt or shutdown, answering MMIO and port reads with {@code device}; fails past the exit bound. */
        Exit run(LongUnaryOperator device) {
            while (exits < EXIT_BOUND) {
                Exit e = cpu.run();
                exits++;
                switch (e) {
                    case Exit.Mmio m when m.write() -> accesses.add(String.format("write %x/%d=%x", m.gpa(), m.size(), m.value()));
                    case Exit.Mmio m -> {
                        long v = device.applyAsLong(m.gpa());
                        accesses.add(String.format("read %x/%d", m.gpa(), m.size()));
                        cpu.complete(v);
                    }
                    case Exit.Io io when io.write() -> accesses.add(String.format("out %x/%d=%x", io.port(), io.size(), io.value()));
                    case Exit.Io io -> {
                        accesses.add(String.format("in %x/%d", io.port(), io.size()));
                        cpu.complete(device.applyAsLong(io.port()));
                    }
                    case Exit.Interrupted i -> { }
                    default -> {
                        return e;
                    }
                }
            }
            fail("no progress: " + EXIT_BOUND + " exits, " + cpu.instructions() + " instructions retired, rip 0x"
                    + Long.toHexString(cpu.rip) + ", last accesses " + accesses.subList(Math.max(0, accesses.size() - 4), accesses.size()));
            return null;
        }

        @Override
        public void close() {
            cpu.close();
            g.close();
        }
    }

    static long hpet(long gpa) {
        return gpa == HPET ? 0x0429b17f8086a201L : gpa == HPET + 8 ? 0 : gpa == HPET + 0xf0 ? 0x1234 : -1;
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void cmpsqBetweenTwoMmioAddresses(String mode) {
        try (Machine m = new Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0xbe, 0x00, 0x00, 0xd0, 0xfe, // mov esi, 0xfed00000 (capabilities)
                    0xbf, 0xf0, 0x00, 0xd0, 0xfe, // mov edi, 0xfed000f0 (main counter)
                    0x48, 0xa7, // cmpsq
                    0xf4)); // hlt
            Exit e = m.run(DeviceAccessTest::hpet);
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(List.of("read fed00000/8", "read fed000f0/8"), m.accesses, "each register read once");
            assertEquals(HPET + 8, m.cpu.r[X86Vcpu.RSI]);
            assertEquals(HPET + 0xf8, m.cpu.r[X86Vcpu.RDI]);
            assertEquals(0, m.cpu.flags() & Flags.ZF, "the two differ");
            assertEquals(0, m.cpu.flags() & Flags.CF, "0x0429b17f8086a201 - 0x1234 does not borrow");
            assertEquals(4, m.cpu.instructions());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void loadCrossingOutOfAnMmioPage(String mode) {
        try (Machine m = new Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0xb8, 0xfc, 0x0f, 0xd0, 0xfe, // mov eax, 0xfed00ffc
                    0x48, 0x8b, 0x00, // mov rax, [rax]
                    0xf4));
            // Crossing the page the access is split into bytes; each byte's answer is its address's low byte.
            Exit e = m.run(gpa -> gpa & 0xff);
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(0x03020100fffefdfcL, m.cpu.r[X86Vcpu.RAX]);
            assertEquals(8, m.accesses.size(), m.accesses.toString());
            assertEquals(3, m.cpu.instructions());
        }
    }

    /** Code fetched from MMIO (a ROM a device serves, or nothing: all-ones) runs byte by byte. */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void codeFetchedFromMmio(String mode) {
        byte[] rom = bytes(0xb8, 0x78, 0x56, 0x34, 0x12, 0xf4); // mov eax, 0x12345678; hlt
        try (Machine m = new Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(0xb9, 0x00, 0x00, 0x00, 0x80, 0xff, 0xe1)); // mov ecx, 0x80000000; jmp rcx
            Exit e = m.run(gpa -> gpa >= 0x80000000L && gpa < 0x80000000L + rom.length ? rom[(int) (gpa - 0x80000000L)] & 0xff : -1);
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(0x12345678L, m.cpu.r[X86Vcpu.RAX]);
            assertEquals(0x80000006L, m.cpu.rip);
            assertEquals(4, m.cpu.instructions());
            assertEquals(rom.length, m.accesses.size(), "each code byte read once: " + m.accesses);
        }
    }

    /** Unbacked memory reads as all-ones: 0xff 0xff is no instruction, so the guest gets #UD there. */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void codeFetchedFromUnbackedMemoryRaisesUd(String mode) {
        try (Machine m = new Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(0xb9, 0x00, 0x00, 0x00, 0x80, 0xff, 0xe1)); // mov ecx, 0x80000000; jmp rcx
            Exit e = m.run(gpa -> -1);
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(LongMode.handler(X86Vcpu.VEC_UD) + 1, m.cpu.rip, "#UD handler");
            assertEquals(0x80000000L, LongMode.read(m.g, m.cpu.r[X86Vcpu.RSP]), "the faulting rip");
        }
    }

    /**
     * CR3 outside RAM: the page walk reads all-ones (reserved bits set: #PF) or zeros (not
     * present: #PF); delivering the #PF walks the same tables, so the guest triple-faults, as on
     * QEMU, after a few exits.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void pageTablesOutsideRamTripleFault(String mode) {
        for (long answer : new long[] {-1, 0}) {
            try (Machine m = new Machine(mode)) {
                LongMode.code(m.g, LongMode.CODE, bytes(0xb8, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xd8, 0x90, 0xf4)); // mov cr3, 0x80000000
                Exit e = m.run(gpa -> answer);
                assertTrue(e instanceof Exit.Shutdown s && s.reason().contains("triple fault"), e.toString());
                assertTrue(m.exits < 10, m.exits + " exits");
                assertEquals(2, m.cpu.instructions());
            }
        }
    }

    /** An exception whose frame goes to an MMIO stack: all five words are written, in order, once. */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void everyWriteOfAnInstructionIsReported(String mode) {
        try (Machine m = new Machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(0xbc, 0x00, 0x01, 0xd0, 0xfe, 0x0f, 0x0b)); // mov esp, 0xfed00100; ud2
            Exit e = m.run(gpa -> -1);
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(List.of("write fed000f8/8=0", "write fed000f0/8=fed00100", "write fed000e8/8=2", "write fed000e0/8=8",
                    "write fed000d8/8=1005"), m.accesses);
            assertEquals(LongMode.handler(X86Vcpu.VEC_UD) + 1, m.cpu.rip);
        }
    }
}
