package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.EngineVm;
import io.cloister.api.cpu.Exit;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * Real mode and 16-bit code as an AP runs them after its start-up IPI: 16-bit ModRM addressing
 * with its default segments and 64 KiB wrap, the 0x66 and 0x67 overrides, the stack, near and far
 * calls, interrupts and faults through the IVT, and the way out to 32-bit protected mode. Each
 * program starts at CS = 0x1000, IP = 0 (a SIPI with vector 0x10) and ends in HLT; every engine
 * mode runs it (the decoded path and compiled blocks must leave such code to the interpreter).
 */
class RealModeTest {
    static final long CODE = 0x10000;

    /** A vCPU started by a SIPI to 0x10000 with {@code code} there, DS = 0x2000, SS = 0x3000, SP = 0x100. */
    static final class Real implements AutoCloseable {
        final TestGuest g = new TestGuest("real", 1 << 20, PageState.SHARED);
        final X86Vcpu cpu;

        Real(String mode, byte[] code) {
            X86Engine engine = switch (mode) {
                case "interpreted" -> new X86Engine(false);
                case "decoded" -> new X86Engine(true, Integer.MAX_VALUE);
                default -> new X86Engine(true, 1);
            };
            cpu = (X86Vcpu) engine.createVm(g.view, CocoCpu.NONE).createVcpu(1, EngineVm.WAIT_FOR_SIPI, 0);
            assertTrue(cpu.legacy && cpu.halted, "an AP waits for SIPI in real mode");
            g.memory.write(CODE, MemorySegment.ofArray(code));
            cpu.startup(0x10);
            cpu.halted = false; // what the APIC's SIPI does at the boundary
            cpu.r[X86Vcpu.RSP] = 0x100;
            cpu.loadSegment(3, 0x2000);
            cpu.loadSegment(2, 0x3000);
        }

        Exit run() {
            for (int i = 0; i < 100; i++) {
                Exit e = cpu.run();
                if (!(e instanceof Exit.Interrupted)) {
                    return e;
                }
            }
            throw new AssertionError("no halt");
        }

        void word(long gpa, int v) {
            MemorySegment s = MemorySegment.ofArray(new short[1]);
            s.set(ValueLayout.JAVA_SHORT, 0, (short) v);
            g.memory.write(gpa, s);
        }

        int readWord(long gpa) {
            return (int) (g.guestReadLong(gpa) & 0xffff);
        }

        long reg(int r) {
            return cpu.r[r];
        }

        @Override
        public void close() {
            cpu.close();
            g.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void sixteenBitAddressingFormsAndTheirDefaultSegments(String mode) {
        try (Real m = new Real(mode, bytes(
                0xbb, 0x10, 0x00, // mov bx, 0x10
                0xbe, 0x04, 0x00, // mov si, 4
                0xbf, 0x08, 0x00, // mov di, 8
                0xbd, 0x20, 0x00, // mov bp, 0x20
                0x8b, 0x00, // mov ax, [bx+si]: ds:0x14
                0x8b, 0x49, 0xfe, // mov cx, [bx+di-2]: ds:0x16
                0x8b, 0x12, // mov dx, [bp+si]: ss:0x24
                0x8d, 0x61, 0xff, // lea sp, [bx+di-1]: 0x17, no segment
                0x3e, 0x8b, 0x7e, 0x00, // mov di, ds:[bp+0]: ds:0x20 (override)
                0x66, 0x8b, 0x2f, // mov ebp, [bx]: a 32-bit operand at ds:0x10
                0xbb, 0xf0, 0xff, // mov bx, 0xfff0
                0x8b, 0xb7, 0x24, 0x00, // mov si, [bx+0x24]: the offset wraps to ds:0x14
                0x26, 0x89, 0x36, 0x00, 0x05, // mov es:[0x500], si: ES is 0 after INIT
                0xf4))) {
            m.word(0x20010, 0x1111);
            m.word(0x20012, 0x7777);
            m.word(0x20014, 0x2222);
            m.word(0x20016, 0x3333);
            m.word(0x20020, 0x4444);
            m.word(0x30024, 0x6666);
            assertTrue(m.run() instanceof Exit.Halt);
            assertEquals(0x2222, m.reg(X86Vcpu.RAX), "[bx+si]");
            assertEquals(0x3333, m.reg(X86Vcpu.RCX), "[bx+di-2]");
            assertEquals(0x6666, m.reg(X86Vcpu.RDX) & 0xffff, "[bp+si] through SS");
            assertEquals(0x17, m.reg(X86Vcpu.RSP), "lea");
            assertEquals(0x4444, m.reg(X86Vcpu.RDI), "ds:[bp]");
            assertEquals(0x77771111L, m.reg(X86Vcpu.RBP), "0x66: 32-bit operand");
            assertEquals(0x2222, m.reg(X86Vcpu.RSI), "wrap at 64 KiB");
            assertEquals(0x2222, m.readWord(0x500), "es:[disp16]");
            assertEquals(42, m.cpu.rip, "IP past the hlt");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void operandAndAddressSizeOverridesStackAndCalls(String mode) {
        try (Real m = new Real(mode, bytes(
                0x66, 0xb8, 0x78, 0x56, 0x34, 0x12, // 00: mov eax, 0x12345678
                0xb9, 0xcd, 0xab, // 06: mov cx, 0xabcd
                0x66, 0x50, // 09: push eax (sp 0xfc)
                0x51, // 0b: push cx (sp 0xfa)
                0x5a, // 0c: pop dx
                0x66, 0x5b, // 0d: pop ebx
                0xe8, 0x01, 0x00, // 0f: call 0x13 (rel16)
                0xf4, // 12: hlt (not reached)
                0x5e, // 13: pop si: the return address 0x12
                0x67, 0x66, 0x8b, 0x44, 0x24, 0xfc, // 14: mov eax, [esp-4]: 32-bit addressing through SS, the ebx pushed above
                0x9a, 0x30, 0x00, 0x00, 0x10, // 1a: call far 0x1000:0x30
                0xeb, 0x05, // 1f: jmp 0x26
                0xf4, 0xf4, 0xf4, 0xf4, 0xf4, // 21
                0x0f, 0x85, 0x01, 0x00, // 26: jnz rel16 (ZF clear after the far procedure's or) to 0x2b
                0xf4, // 2a
                0xf4, // 2b: hlt: the end
                0xf4, 0xf4, 0xf4, 0xf4, // 2c
                0x0e, 0x1f, // 30: push cs; pop ds
                0x8c, 0xdf, // 32: mov di, ds
                0x09, 0xff, // 34: or di, di
                0xcb))) { // 36: retf
            assertTrue(m.run() instanceof Exit.Halt);
            assertEquals(0x000606a0L & ~0xffffL | 0xabcd, m.reg(X86Vcpu.RDX), "pop dx: the upper half (the signature INIT left) stays");
            assertEquals(0x12345678L, m.reg(X86Vcpu.RBX));
            assertEquals(0x12, m.reg(X86Vcpu.RSI), "call pushed a 16-bit IP");
            assertEquals(0x00125678L, m.reg(X86Vcpu.RAX), "[esp-4] with 0x67: the low half of the eax pushed, the call's IP above it");
            assertEquals(0x1000, m.reg(X86Vcpu.RDI), "push cs inside the far procedure");
            assertEquals(0x100, m.reg(X86Vcpu.RSP), "balanced stack");
            assertEquals(0x2c, m.cpu.rip, "halted at 0x2b");
            assertEquals(0x1000, m.readWord(0x300fe), "far call pushed CS");
            assertEquals(0x1f, m.readWord(0x300fc), "and then IP");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void interruptsAndFaultsGoThroughTheIvt(String mode) {
        try (Real m = new Real(mode, bytes(
                0xcd, 0x21, // 00: int 0x21
                0x0f, 0x0b, // 02: ud2: #UD, vector 6
                0xf4, // 04
                0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, // 05
                0xbf, 0x99, 0x00, // 10: int 0x21's handler: mov di, 0x99
                0x89, 0xe5, // 13: mov bp, sp
                0x8b, 0x5e, 0x04, // 15: mov bx, [bp+4]: the pushed FLAGS
                0xcf, // 18: iret
                0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, // 19
                0x89, 0xe6, // 20: #UD's handler: mov si, sp
                0xf4))) { // 22
            LongMode.write(m.g, 0x21 * 4, 0x1000_0010L); // IVT: 1000:0010
            LongMode.write(m.g, 6 * 4, 0x1000_0020L);
            m.cpu.rflags |= Flags.IF;
            assertTrue(m.run() instanceof Exit.Halt);
            assertEquals(0x99, m.reg(X86Vcpu.RDI), "int 0x21 ran its handler");
            assertEquals(Flags.FIXED | Flags.IF, m.reg(X86Vcpu.RBX), "the FLAGS image pushed");
            assertEquals(0x100 - 6, m.reg(X86Vcpu.RSI), "#UD pushed FLAGS, CS, IP; no error code");
            assertEquals(0x02, m.readWord(0x30000 + 0xfa), "the faulting instruction's IP");
            assertEquals(0x1000, m.readWord(0x30000 + 0xfc), "its CS");
            assertEquals(0, m.cpu.rflags & Flags.IF, "IF cleared by the delivery");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded"})
    void aFaultWithoutAnIvtIsATripleFault(String mode) {
        try (Real m = new Real(mode, bytes(
                0x66, 0x0f, 0x01, 0x1e, 0x10, 0x00, // lidtl [0x10]: limit 0, as Linux's trampoline loads it
                0x8e, 0xc8))) { // mov cs, ax: #UD
            m.cpu.loadSegment(3, 0x1000);
            assertTrue(m.run() instanceof Exit.Shutdown s && s.reason().contains("triple fault"));
        }
    }

    /**
     * Out of real mode as trampolines do it: LGDT with a 32-bit operand, LMSW (or MOV to CR0) for
     * PE, a far jump with a 32-bit offset (still in 16-bit code) to a 32-bit code segment, then data
     * segments reloaded: flat 32-bit code, which the decoded path runs again.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void realToProtectedModeByLmswAndAFarJump(String mode) {
        try (Real m = new Real(mode, bytes(
                0x66, 0x0f, 0x01, 0x16, 0x80, 0x00, // 00: lgdtl cs:[0x80] (DS = CS below)
                0xb8, 0x01, 0x00, // 06: mov ax, 1
                0x0f, 0x01, 0xf0, // 09: lmsw ax
                0x66, 0xea, 0x00, 0x01, 0x01, 0x00, 0x08, 0x00, // 0c: ljmpl 0x08:0x10100
                0xf4))) {
            m.cpu.loadSegment(3, 0x1000);
            // GDT at 0x10090: null, 32-bit flat code, flat data
            LongMode.write(m.g, 0x10080, 0x0001_0090_0017L); // limit 0x17, base 0x10090
            LongMode.write(m.g, 0x10098, 0x00cf9a000000ffffL);
            LongMode.write(m.g, 0x100a0, 0x00cf92000000ffffL);
            LongMode.code(m.g, 0x10100, bytes(
                    0xb8, 0x10, 0x00, 0x00, 0x00, // mov eax, 0x10
                    0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, // mov ds, es, ss
                    0xbc, 0x00, 0x80, 0x00, 0x00, // mov esp, 0x8000
                    0x6a, 0x42, // push 0x42
                    0x8f, 0x05, 0x00, 0x06, 0x00, 0x00, // pop dword [0x600]
                    0x8c, 0xcb, // mov ebx, cs
                    0xf4));
            assertTrue(m.run() instanceof Exit.Halt);
            assertEquals(0x42, m.readWord(0x600), "flat 32-bit addressing");
            assertEquals(0x08, m.reg(X86Vcpu.RBX));
            assertEquals(0x7ffc + 4, m.reg(X86Vcpu.RSP));
            assertFalse(m.cpu.legacy, "flat 32-bit protected mode leaves the interpreter");
            assertEquals(0x1011b, m.cpu.rip);
        }
    }
}
