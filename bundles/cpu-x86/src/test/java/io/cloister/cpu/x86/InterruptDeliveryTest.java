package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.EngineVm;
import io.cloister.api.cpu.Exit;
import io.cloister.api.irq.ApicMessage;
import io.cloister.api.irq.DeliveryMode;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * The emulator takes interrupts from its local APIC at instruction boundaries (SDM vol. 3, 6.8):
 * only with RFLAGS.IF set, not in the shadow of STI or MOV SS, through the 64-bit IDT; HLT waits
 * in the APIC (woken by a delivery from another thread, or by the VMM's kick), and the APIC's
 * registers answer on its MMIO page and MSRs without an exit.
 */
class InterruptDeliveryTest {
    static final int VECTOR = 0x40;
    static final long ISR = 0x5000;
    final TestGuest g = new TestGuest("irq", 1 << 20, PageState.SHARED);
    final EngineVm vm = new X86Engine().createVm(g.view, CocoCpu.NONE);
    final X86Vcpu cpu = (X86Vcpu) vm.createVcpu(0, LongMode.CODE, 0);

    InterruptDeliveryTest() {
        LongMode.enter(cpu, g);
        // Gate 0x40 -> ISR: rdx = rcx (where the interrupt came in), EOI through [rax], iretq.
        long gate = LongMode.IDT + 16L * VECTOR;
        LongMode.write(g, gate, (ISR & 0xffff) | (0x08L << 16) | (0x8eL << 40) | ((ISR >>> 16 & 0xffff) << 48));
        LongMode.write(g, gate + 8, 0);
        cpu.idtLimit = 256 * 16 - 1;
        LongMode.code(g, ISR, bytes(0x48, 0x89, 0xca, 0xc7, 0x00, 0, 0, 0, 0, 0x48, 0xcf)); // mov rdx,rcx; mov dword [rax],0; iretq
        cpu.r[X86Vcpu.RAX] = 0xfee000b0L; // EOI register
        cpu.r[X86Vcpu.RDX] = -1;
        cpu.apic.writeMmio(0xf0, 0x1ff); // software-enabled, as a guest's set-up would
    }

    @AfterEach
    void close() {
        cpu.close();
        vm.close();
        g.close();
    }

    void code(int... b) {
        LongMode.code(g, LongMode.CODE, bytes(b));
    }

    void raise() {
        vm.localApics().deliver(new ApicMessage(0, false, VECTOR, DeliveryMode.FIXED, false));
    }

    static final int[] INC_RCX = {0x48, 0xff, 0xc1};

    static int[] concat(int[]... parts) {
        return java.util.Arrays.stream(parts).flatMapToInt(java.util.Arrays::stream).toArray();
    }

    @Test
    void stiHoldsOffTheInterruptForOneInstruction() {
        code(concat(new int[] {0xfb}, INC_RCX, INC_RCX, new int[] {0xfa, 0xf4})); // sti; inc rcx; inc rcx; cli; hlt
        raise();
        assertInstanceOf(Exit.Halt.class, cpu.run());
        assertEquals(1, cpu.r[X86Vcpu.RDX], "taken after the instruction following STI, not before it");
        assertEquals(2, cpu.r[X86Vcpu.RCX]);
        assertFalse(cpu.apic.pending, "taken and ended");
    }

    @Test
    void movSsHoldsOffTheInterruptForOneInstruction() {
        // sti; mov ss, ax; inc rcx; inc rcx; cli; hlt: STI's shadow covers MOV SS, whose own covers the first inc.
        code(concat(new int[] {0xfb, 0x8e, 0xd1}, INC_RCX, INC_RCX, new int[] {0xfa, 0xf4})); // mov ss, cx (cx = 0 at start)
        raise();
        assertInstanceOf(Exit.Halt.class, cpu.run());
        assertEquals(1, cpu.r[X86Vcpu.RDX], "taken after the instruction following MOV SS");
    }

    @Test
    void interruptsDisabledLeaveItPendingAndHltEndsTheVcpu() {
        code(concat(INC_RCX, new int[] {0xf4}));
        raise();
        assertInstanceOf(Exit.Halt.class, cpu.run());
        assertEquals(-1, cpu.r[X86Vcpu.RDX], "the handler did not run");
        assertTrue(cpu.apic.pending);
    }

    @Test
    void takenAtOnceWhenEnabled() {
        cpu.rflags |= Flags.IF;
        code(concat(INC_RCX, new int[] {0xfa, 0xf4}));
        raise();
        assertInstanceOf(Exit.Halt.class, cpu.run());
        assertEquals(0, cpu.r[X86Vcpu.RDX], "before the first instruction");
        long frameFlags = LongMode.read(g, LongMode.STACK - 24);
        assertTrue((frameFlags & Flags.IF) != 0, "the frame holds RFLAGS with IF");
        assertEquals(LongMode.CODE, LongMode.read(g, LongMode.STACK - 40), "return RIP: the instruction not yet run");
    }

    @Test
    void hltWithASoftwareDisabledApicEndsTheVcpuAsBefore() {
        cpu.apic.writeMmio(0xf0, 0xff); // nothing maskable can arrive: no wait for ever
        code(0xfb, 0xf4); // sti; hlt
        assertInstanceOf(Exit.Halt.class, cpu.run());
    }

    /** Starts run() on its own thread and returns once that thread sleeps in HLT. */
    CompletableFuture<Exit> runUntilHalted() {
        CompletableFuture<Exit> exit = new CompletableFuture<>();
        Thread t = Thread.ofPlatform().start(() -> exit.complete(cpu.run()));
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (t.getState() != Thread.State.TIMED_WAITING && !exit.isDone()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("the vCPU never halted");
            }
            Thread.onSpinWait();
        }
        assertFalse(exit.isDone(), "run() returned instead of halting: " + exit.getNow(null));
        return exit;
    }

    @Test
    void hltSleepsUntilAnotherThreadDelivers() throws Exception {
        code(0xfb, 0xf4, 0xfa, 0xf4); // sti; hlt; cli; hlt
        CompletableFuture<Exit> exit = runUntilHalted();
        Thread.ofPlatform().start(this::raise).join();
        assertInstanceOf(Exit.Halt.class, exit.get(60, TimeUnit.SECONDS));
        assertEquals(0, cpu.r[X86Vcpu.RDX], "the handler ran");
        assertEquals(LongMode.CODE + 4, cpu.rip, "past the second hlt");
    }

    @Test
    void aKickEndsRunWhileHaltedAndTheHaltGoesOn() throws Exception {
        code(0xfb, 0xf4, 0xfa, 0xf4);
        CompletableFuture<Exit> exit = runUntilHalted();
        cpu.requestExit();
        assertInstanceOf(Exit.Interrupted.class, exit.get(60, TimeUnit.SECONDS));
        assertEquals(LongMode.CODE + 2, cpu.rip, "halted after the first hlt");
        CompletableFuture<Exit> again = runUntilHalted(); // still halted: run() waits again
        raise();
        assertInstanceOf(Exit.Halt.class, again.get(60, TimeUnit.SECONDS));
        assertEquals(0, cpu.r[X86Vcpu.RDX]);
    }

    @Test
    void apicRegistersAnswerWithoutAnExit() {
        // mov ebx, 0xfee00030; mov ecx, [rbx]; mov ecx, 0x1b; rdmsr; hlt
        code(0xbb, 0x30, 0x00, 0xe0, 0xfe, 0x8b, 0x0b, 0x89, 0xce, 0xb9, 0x1b, 0, 0, 0, 0x0f, 0x32, 0xf4);
        assertInstanceOf(Exit.Halt.class, cpu.run());
        assertEquals(0x00050014L, cpu.r[X86Vcpu.RSI], "version register read from the MMIO page");
        assertEquals(0xfee00900L, cpu.r[X86Vcpu.RAX], "IA32_APIC_BASE: enabled, BSP");
    }

    @Test
    void x2apicMsrsRaiseGpInXapicMode() {
        code(0xb9, 0x02, 0x08, 0, 0, 0x0f, 0x32, 0xf4); // mov ecx, 0x802; rdmsr
        cpu.run();
        assertEquals(LongMode.handler(13) + 1, cpu.rip, "#GP");
    }

    @Test
    void x2apicModeThroughWrmsr() {
        // mov ecx, 0x1b; mov eax, 0xfee00d00; xor edx, edx; wrmsr; mov ecx, 0x802; rdmsr; hlt
        code(0xb9, 0x1b, 0, 0, 0, 0xb8, 0x00, 0x0d, 0xe0, 0xfe, 0x31, 0xd2, 0x0f, 0x30, 0xb9, 0x02, 0x08, 0, 0, 0x0f, 0x32, 0xf4);
        assertInstanceOf(Exit.Halt.class, cpu.run());
        assertEquals(0L, cpu.r[X86Vcpu.RAX], "x2APIC ID 0");
        assertEquals(-1, cpu.apic.mmioBase(), "the MMIO page is gone in x2APIC mode");
    }

    @Test
    void cpuidAdvertisesTheApic() {
        code(0xb8, 1, 0, 0, 0, 0x0f, 0xa2, 0xf4); // mov eax, 1; cpuid; hlt
        cpu.run();
        assertTrue((cpu.r[X86Vcpu.RDX] & 1 << 9) != 0, "APIC");
        assertTrue((cpu.r[X86Vcpu.RCX] & 1 << 21) != 0, "x2APIC");
        assertTrue((cpu.r[X86Vcpu.RCX] & 1 << 24) != 0, "TSC deadline");
    }
}
