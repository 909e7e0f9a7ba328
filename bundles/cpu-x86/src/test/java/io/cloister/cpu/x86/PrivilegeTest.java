package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static io.cloister.cpu.x86.Code.join;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.cloister.api.cpu.Exit;

/**
 * Privilege levels as Linux uses them (issue 15): LTR and the 64-bit TSS, IRETQ to ring 3, INT n
 * through a DPL-3 gate with the stack switch to RSP0, a user-mode #PF on a supervisor page, IST
 * stacks and the double fault, SYSCALL/SYSRET with SWAPGS and the system call MSRs, RDTSCP, the
 * 0F 00 group with LAR/LSL, and the #GP of an unknown MSR. Each in all three execution modes.
 */
class PrivilegeTest {
    static final long TSS = 0x14000;
    static final long USER = 0x5000;
    static final long KERNEL_ENTRY = 0x6000;
    static final long PF_HANDLER = 0x6100;
    static final long SYSCALL_ENTRY = 0x6200;
    static final long GP_HANDLER = 0x6300;
    static final long DF_HANDLER = 0x6400;
    static final long RSP0 = 0x30000;
    static final long IST1 = 0x38000;
    static final long USER_STACK = 0x28000;
    /** Linux's layout: kernel code and data, 32-bit user code, user data, 64-bit user code, the TSS (16 bytes), an LDT (16 bytes). */
    static final long[] GDT = {0, 0x00af9a000000ffffL, 0x00cf92000000ffffL, 0x00cffa000000ffffL, 0x00cff2000000ffffL,
        0x00affa000000ffffL, tssLow(TSS, 0x67, 9), TSS >>> 32, tssLow(0x15000, 0xfff, 2), 0};

    /** Kernel code that loads the TSS (selector 0x30). */
    static final byte[] LOAD_TSS = bytes(
            0x66, 0xb8, 0x30, 0x00, // mov $0x30, %ax
            0x0f, 0x00, 0xd8); // ltr %ax

    /** Kernel code that IRETQs to ring 3 at USER, on USER_STACK (SS 0x23, CS 0x2b). */
    static final byte[] IRETQ_TO_USER = bytes(
            0x6a, 0x23, // push $0x23 (SS: user data, RPL 3)
            0x68, 0x00, 0x80, 0x02, 0x00, // push $0x28000 (RSP)
            0x6a, 0x02, // push $0x2 (RFLAGS)
            0x6a, 0x2b, // push $0x2b (CS: 64-bit user code, RPL 3)
            0x68, 0x00, 0x50, 0x00, 0x00, // push $0x5000 (RIP)
            0x48, 0xcf); // iretq

    /** Kernel code that loads the TSS and IRETQs to ring 3. */
    static final byte[] TO_RING3 = join(LOAD_TSS, IRETQ_TO_USER);

    static long tssLow(long base, long limit, int type) {
        return limit | (base & 0xffffff) << 16 | (long) (0x80 | type) << 40 | (base >>> 24 & 0xff) << 56;
    }

    /**
     * The test machine with user pages: the first GiB is user-accessible (PML4 and PDPT entries with
     * U/S), linear 3 GiB maps physical 0 for the supervisor only; Linux's GDT, a TSS with RSP0 and
     * IST1, and the IDT's 256 gates.
     */
    static DeviceAccessTest.Machine machine(String mode) {
        DeviceAccessTest.Machine m = new DeviceAccessTest.Machine(mode);
        LongMode.write(m.g, LongMode.PML4, LongMode.PDPT | 7);
        LongMode.write(m.g, LongMode.PDPT, 0x87);
        LongMode.write(m.g, LongMode.PDPT + 24, 0x83);
        for (int i = 0; i < GDT.length; i++) {
            LongMode.write(m.g, LongMode.GDT + 8L * i, GDT[i]);
        }
        m.cpu.gdtLimit = 8 * GDT.length - 1;
        m.cpu.idtLimit = 256 * 16 - 1;
        LongMode.write(m.g, TSS + 4, RSP0);
        LongMode.write(m.g, TSS + 0x24, IST1);
        LongMode.write(m.g, TSS + 0x60, 0x68L << 48); // the I/O map base at the limit: no port is allowed above IOPL
        m.cpu.flushTlb();
        return m;
    }

    static void gate(DeviceAccessTest.Machine m, int vector, long handler, int dpl, int ist) {
        LongMode.write(m.g, LongMode.IDT + 16L * vector,
                (handler & 0xffff) | (0x08L << 16) | ((long) ist << 32) | ((0x8eL | dpl << 5) << 40) | ((handler >>> 16 & 0xffff) << 48));
        LongMode.write(m.g, LongMode.IDT + 16L * vector + 8, handler >>> 32);
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void iretqToRing3IntThroughADpl3GateAndAUserPageFault(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, join(LOAD_TSS, bytes(0x0f, 0x00, 0xcb), IRETQ_TO_USER)); // str %ebx between
            LongMode.code(m.g, USER, bytes(
                    0xbf, 0x34, 0x12, 0x00, 0x00, // mov $0x1234, %edi
                    0xcd, 0x80, // int $0x80
                    0x49, 0x89, 0xc4, // mov %rax, %r12
                    0x8c, 0xcd, // mov %cs, %ebp
                    0xbe, 0x00, 0x10, 0x00, 0xc0, // mov $0xc0001000, %esi
                    0x48, 0x8b, 0x06, // mov (%rsi), %rax: a supervisor page
                    0xf4)); // hlt
            LongMode.code(m.g, KERNEL_ENTRY, bytes(
                    0x49, 0x89, 0xe5, // mov %rsp, %r13
                    0x4c, 0x8b, 0x74, 0x24, 0x08, // mov 8(%rsp), %r14 (the pushed CS)
                    0x41, 0x8c, 0xcf, // mov %cs, %r15d
                    0xb8, 0x99, 0x00, 0x00, 0x00, // mov $0x99, %eax
                    0x48, 0xcf)); // iretq
            LongMode.code(m.g, PF_HANDLER, bytes(
                    0x41, 0x58, // pop %r8 (the error code)
                    0x41, 0x0f, 0x20, 0xd1, // mov %cr2, %r9
                    0x49, 0x89, 0xe2, // mov %rsp, %r10
                    0xf4)); // hlt
            gate(m, 0x80, KERNEL_ENTRY, 3, 0);
            gate(m, 14, PF_HANDLER, 0, 0);
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            X86Vcpu c = m.cpu;
            assertEquals(0x30, c.r[X86Vcpu.RBX], "STR");
            assertEquals(RSP0 - 40, c.r[13], "INT 0x80 from ring 3 switched to RSP0 and pushed SS, RSP, RFLAGS, CS, RIP");
            assertEquals(0x2b, c.r[14], "the pushed CS");
            assertEquals(0x08, c.r[15], "the handler runs at CPL 0");
            assertEquals(0x99, c.r[12], "IRETQ returned to ring 3 with the handler's RAX");
            assertEquals(0x2b, c.r[X86Vcpu.RBP], "CS in ring 3");
            assertEquals(5, c.r[8], "#PF error code: present, read, user");
            assertEquals(0xc0001000L, c.r[9], "CR2");
            assertEquals(RSP0 - 40, c.r[10], "the #PF from ring 3 also started on RSP0");
            assertEquals(0x08, c.cs);
            assertEquals(0, c.sreg[2], "SS is null after a stack switch in 64-bit mode");
            assertEquals(0x8b, (LongMode.read(m.g, LongMode.GDT + 0x30) >>> 40) & 0xff, "LTR marks the TSS busy");
        }
    }

    /**
     * The IDT read for an INT from ring 3 is an implicit supervisor access (SDM vol. 3, 4.6.1):
     * here the IDT is reachable only through the supervisor alias at 3 GiB, so the gate is found
     * only if the access is checked as a supervisor one (Memory.userAccess, supervisorAccess).
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void intFromRing3ReadsAnIdtThatOnlyTheSupervisorMaps(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            m.cpu.idtBase = 0xc0000000L + LongMode.IDT; // the same bytes, through a supervisor-only mapping
            m.cpu.flushTlb();
            LongMode.code(m.g, LongMode.CODE, TO_RING3);
            LongMode.code(m.g, USER, bytes(
                    0xcd, 0x80, // int $0x80
                    0xf4)); // hlt, not reached: the handler halts, or the gate's read faults on to a triple fault
            LongMode.code(m.g, KERNEL_ENTRY, bytes(
                    0xb8, 0x77, 0x00, 0x00, 0x00, // mov $0x77, %eax
                    0xf4)); // hlt, at CPL 0
            gate(m, 0x80, KERNEL_ENTRY, 3, 0);
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(0x77, m.cpu.r[X86Vcpu.RAX], "the handler ran: the gate was read as a supervisor access");
            assertEquals(0x08, m.cpu.cs, "halted in the handler, at CPL 0");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void sysretToRing3AndSyscallBackWithSwapgs(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0x83, 0xc8, 0x01, 0x0f, 0x30, // EFER.SCE
                    0xb9, 0x81, 0x00, 0x00, 0xc0, 0x31, 0xc0, 0xba, 0x08, 0x00, 0x18, 0x00, 0x0f, 0x30, // STAR: 0x08, 0x18
                    0xb9, 0x82, 0x00, 0x00, 0xc0, 0xb8, 0x00, 0x62, 0x00, 0x00, 0x31, 0xd2, 0x0f, 0x30, // LSTAR = 0x6200
                    0xb9, 0x84, 0x00, 0x00, 0xc0, 0xb8, 0x00, 0x04, 0x00, 0x00, 0x0f, 0x30, // SFMASK = DF
                    0xb9, 0x02, 0x01, 0x00, 0xc0, 0xb8, 0x77, 0x77, 0x00, 0x00, 0x0f, 0x30, // KERNEL_GS_BASE = 0x7777
                    0xb9, 0x03, 0x01, 0x00, 0xc0, 0xb8, 0x42, 0x00, 0x00, 0x00, 0x0f, 0x30, // TSC_AUX = 0x42
                    0xb9, 0x00, 0x50, 0x00, 0x00, // mov $0x5000, %ecx
                    0x41, 0xbb, 0x02, 0x04, 0x00, 0x00, // mov $0x402, %r11d (DF)
                    0x48, 0x0f, 0x07)); // sysretq
            LongMode.code(m.g, USER, bytes(
                    0x8c, 0xcb, // mov %cs, %ebx
                    0x8c, 0xd5, // mov %ss, %ebp
                    0x9c, 0x41, 0x5c, // pushf; pop %r12
                    0x0f, 0x01, 0xf9, // rdtscp
                    0x48, 0x89, 0xce, // mov %rcx, %rsi
                    0x0f, 0x05, // syscall
                    0xf4));
            LongMode.code(m.g, SYSCALL_ENTRY, bytes(
                    0x0f, 0x01, 0xf8, // swapgs
                    0x48, 0x89, 0xcf, // mov %rcx, %rdi
                    0xb9, 0x01, 0x01, 0x00, 0xc0, 0x0f, 0x32, 0x49, 0x89, 0xc5, // rdmsr GS_BASE -> r13
                    0x9c, 0x41, 0x5e, // pushf; pop %r14
                    0x41, 0x8c, 0xcf, // mov %cs, %r15d
                    0x41, 0x8c, 0xd1, // mov %ss, %r9d
                    0xb9, 0x45, 0x23, 0x01, 0x00, 0x0f, 0x32, // rdmsr 0x12345: #GP
                    0xf4));
            LongMode.code(m.g, GP_HANDLER, bytes(0x41, 0x58, 0x49, 0x89, 0xe2, 0xf4)); // pop %r8; mov %rsp, %r10; hlt
            gate(m, 13, GP_HANDLER, 0, 0);
            m.cpu.r[X86Vcpu.RSP] = USER_STACK; // SYSCALL keeps RSP: the entry pushes on it
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            X86Vcpu c = m.cpu;
            assertEquals(0x2b, c.r[X86Vcpu.RBX], "SYSRETQ: CS = STAR[63:48] + 16, RPL 3");
            assertEquals(0x23, c.r[X86Vcpu.RBP], "SS = STAR[63:48] + 8, RPL 3");
            assertEquals(0x402, c.r[12] & 0xffff, "RFLAGS from R11");
            assertEquals(0x42, c.r[X86Vcpu.RSI], "RDTSCP: ECX = TSC_AUX");
            assertEquals(USER + 15, c.r[X86Vcpu.RDI], "SYSCALL: RCX = the next RIP");
            assertEquals(0x402, c.r[11] & 0xffff, "R11 = RFLAGS");
            assertEquals(0x7777, c.r[13], "SWAPGS: GS.base = KERNEL_GS_BASE");
            assertEquals(0, c.r[14] & 0x400, "SFMASK cleared DF");
            assertEquals(0x08, c.r[15], "CS = STAR[47:32]");
            assertEquals(0x10, c.r[9], "SS = STAR[47:32] + 8");
            assertEquals(0, c.r[8], "an unknown MSR is #GP(0)");
            assertEquals(USER_STACK - 40, c.r[10], "the #GP at CPL 0 stayed on the current stack");
            assertEquals(0x7777, c.gsBase);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void group6LarLslAndABusyTss(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0x66, 0xb8, 0x40, 0x00, 0x0f, 0x00, 0xd0, // lldt 0x40
                    0x0f, 0x00, 0xc3, // sldt %ebx
                    0x66, 0xb8, 0x30, 0x00, 0x0f, 0x00, 0xd8, // ltr 0x30
                    0x0f, 0x00, 0xc9, // str %ecx
                    0x31, 0xd2, // xor %edx, %edx
                    0x66, 0xb8, 0x23, 0x00, // mov $0x23, %ax (user data)
                    0x0f, 0x00, 0xe0, 0x0f, 0x94, 0xc2, // verr; sete %dl
                    0x0f, 0x00, 0xe8, 0x0f, 0x94, 0xc6, // verw; sete %dh
                    0x66, 0xb8, 0x08, 0x00, // mov $0x08, %ax (kernel code)
                    0x0f, 0x00, 0xe8, 0x41, 0x0f, 0x95, 0xc4, // verw; setne %r12b
                    0x0f, 0x00, 0xe0, 0x41, 0x0f, 0x94, 0xc1, // verr; sete %r9b
                    0xb8, 0x23, 0x00, 0x00, 0x00, // mov $0x23, %eax
                    0x0f, 0x03, 0xf0, // lsl %eax, %esi
                    0x0f, 0x02, 0xf8, // lar %eax, %edi
                    0xb8, 0xf8, 0xff, 0x00, 0x00, // mov $0xfff8, %eax (beyond the GDT)
                    0x44, 0x0f, 0x03, 0xd0, 0x41, 0x0f, 0x95, 0xc3, // lsl %eax, %r10d; setne %r11b
                    0x66, 0xb8, 0x30, 0x00, 0x0f, 0x00, 0xd8, // ltr 0x30 again: busy, #GP(0x30)
                    0xf4));
            LongMode.code(m.g, GP_HANDLER, bytes(0x41, 0x58, 0x49, 0x89, 0xe2, 0xf4)); // pop %r8; mov %rsp, %r10; hlt
            gate(m, 13, GP_HANDLER, 0, 0);
            m.cpu.r[10] = 0x5555;
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            X86Vcpu c = m.cpu;
            assertEquals(0x40, c.r[X86Vcpu.RBX], "SLDT");
            assertEquals(0x30, c.r[X86Vcpu.RCX], "STR");
            assertEquals(0x0101, c.r[X86Vcpu.RDX], "user data is readable and writable");
            assertEquals(1, c.r[12] & 0xff, "code is not writable");
            assertEquals(1, c.r[9] & 0xff, "readable code");
            assertEquals(0xffffffffL, c.r[X86Vcpu.RSI], "LSL: the limit in bytes");
            assertEquals(0x00c0f200L, c.r[X86Vcpu.RDI], "LAR: the access rights (type, S, DPL, P, AVL, L, D/B, G; limit bits masked as QEMU does)");
            assertEquals(1, c.r[11] & 0xff, "LSL of a selector beyond the GDT clears ZF");
            assertEquals(0x30, c.r[8], "LTR of a busy TSS: #GP(selector)");
            assertEquals(0x15000, c.ldtBase);
            assertEquals(0xfff, c.ldtLimit);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void doubleFaultOnItsIstStack(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0x66, 0xb8, 0x30, 0x00, 0x0f, 0x00, 0xd8, // ltr 0x30
                    0xb9, 0x45, 0x23, 0x01, 0x00, 0x0f, 0x32, // rdmsr 0x12345: #GP, whose gate is not present: #NP, so #DF
                    0xf4));
            LongMode.code(m.g, DF_HANDLER, bytes(0x4c, 0x8b, 0x04, 0x24, 0x49, 0x89, 0xe2, 0xf4)); // mov (%rsp), %r8; mov %rsp, %r10; hlt
            gate(m, 8, DF_HANDLER, 0, 1);
            LongMode.write(m.g, LongMode.IDT + 16L * 13, 0); // gate 13 not present
            m.cpu.r[8] = 0x5555;
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(DF_HANDLER + 8, m.cpu.rip, "the double-fault handler ran");
            assertEquals(0, m.cpu.r[8], "#DF pushes error code 0");
            assertEquals(IST1 - 48, m.cpu.r[10], "on IST1: SS, RSP, RFLAGS, CS, RIP, error code");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void ring3CannotRunPrivilegedInstructionsNorIntThroughDpl0Gates(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, TO_RING3);
            LongMode.code(m.g, USER, bytes(0xcd, 0x21)); // int $0x21 through a DPL 0 gate: #GP(0x21 * 8 + 2)
            LongMode.code(m.g, GP_HANDLER, bytes(0x41, 0x58, 0x49, 0x89, 0xe2, 0xf4));
            gate(m, 13, GP_HANDLER, 0, 0);
            gate(m, 0x21, KERNEL_ENTRY, 0, 0);
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(0x21 * 8 + 2, m.cpu.r[8], "INT n through a gate of lower DPL: #GP(vector, IDT)");
            assertEquals(RSP0 - 40, m.cpu.r[10], "on RSP0");
        }
        for (byte[] insn : new byte[][] {bytes(0xf4), bytes(0xfa), bytes(0x0f, 0x20, 0xd8), bytes(0x0f, 0x32), bytes(0x0f, 0x01, 0xf8),
            bytes(0xe6, 0x80), bytes(0x0f, 0x00, 0xd8)}) {
            try (DeviceAccessTest.Machine m = machine(mode)) {
                LongMode.code(m.g, LongMode.CODE, TO_RING3);
                LongMode.code(m.g, USER, insn);
                LongMode.code(m.g, GP_HANDLER, bytes(0x41, 0x58, 0x49, 0x89, 0xe2, 0xf4));
                gate(m, 13, GP_HANDLER, 0, 0);
                m.cpu.r[8] = 0x5555;
                assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
                assertEquals(GP_HANDLER + 6, m.cpu.rip, "#GP at CPL 3 for " + java.util.HexFormat.of().formatHex(insn));
                assertEquals(0, m.cpu.r[8]);
                assertEquals(USER, LongMode.read(m.g, RSP0 - 40), "the faulting instruction's address");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void farReturnToRing3PopsSsAndRsp(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0x66, 0xb8, 0x30, 0x00, 0x0f, 0x00, 0xd8, // ltr 0x30
                    0x6a, 0x23, 0x68, 0x00, 0x80, 0x02, 0x00, 0x6a, 0x2b, 0x68, 0x00, 0x50, 0x00, 0x00, // SS, RSP, CS, RIP
                    0x48, 0xcb)); // lretq
            LongMode.code(m.g, USER, bytes(0x8c, 0xcb, 0x8c, 0xd5, 0x48, 0x89, 0xe6, 0xf4)); // mov %cs, %ebx; mov %ss, %ebp; mov %rsp, %rsi; hlt (#GP)
            LongMode.code(m.g, GP_HANDLER, bytes(0x41, 0x58, 0x49, 0x89, 0xe2, 0xf4));
            gate(m, 13, GP_HANDLER, 0, 0);
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            assertEquals(0x2b, m.cpu.r[X86Vcpu.RBX], "CS from the stack, CPL 3");
            assertEquals(0x23, m.cpu.r[X86Vcpu.RBP], "SS from the outer stack");
            assertEquals(USER_STACK, m.cpu.r[X86Vcpu.RSI], "RSP from the outer stack");
            assertEquals(USER + 7, LongMode.read(m.g, RSP0 - 40), "HLT in ring 3 is #GP");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreted", "decoded", "compiled"})
    void cpuidSaysIntelWithTheTscFrequency(String mode) {
        try (DeviceAccessTest.Machine m = machine(mode)) {
            LongMode.code(m.g, LongMode.CODE, bytes(
                    0x31, 0xc0, 0x0f, 0xa2, // cpuid 0
                    0x49, 0x89, 0xd8, 0x49, 0x89, 0xd1, 0x49, 0x89, 0xca, // mov %rbx, %r8; mov %rdx, %r9; mov %rcx, %r10
                    0xb8, 0x15, 0x00, 0x00, 0x00, 0x0f, 0xa2, // cpuid 0x15
                    0xf4));
            assertTrue(m.run(a -> -1) instanceof Exit.Halt, mode);
            X86Vcpu c = m.cpu;
            assertEquals("GenuineIntel", new String(java.nio.ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                    .putInt((int) c.r[8]).putInt((int) c.r[9]).putInt((int) c.r[10]).array(), java.nio.charset.StandardCharsets.US_ASCII));
            assertEquals(3_000_000_000L, (c.r[X86Vcpu.RCX] & 0xffffffffL) * c.r[X86Vcpu.RBX] / c.r[X86Vcpu.RAX], "TSC Hz");
        }
    }
}
