package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

import org.junit.jupiter.api.Test;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.cpu.Vcpu;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/** Several vCPUs, one thread each, over one guest memory: locked instructions are atomic. */
class SmpTest {
    /**
     * Each vCPU adds 1 to a counter with LOCK XADD, and increments a second counter with a plain
     * INC inside a spinlock taken with LOCK CMPXCHG and released with a plain store. Lost updates
     * or a broken lock show as totals below vCPUs x iterations.
     */
    @Test
    void lockedInstructionsAreAtomicAcrossVcpus() throws Exception {
        int iterations = 50_000;
        byte[] code = bytes(
                0xb9, iterations & 0xff, (iterations >> 8) & 0xff, iterations >> 16, 0x00, // 1000: mov ecx, iterations
                0xb8, 0x01, 0x00, 0x00, 0x00, // 1005: mov eax, 1
                0xf0, 0x0f, 0xc1, 0x05, 0x00, 0x20, 0x00, 0x00, // 100a: lock xadd [0x2000], eax
                0xba, 0x01, 0x00, 0x00, 0x00, // 1012: mov edx, 1
                0x31, 0xc0, // 1017: xor eax, eax
                0xf0, 0x0f, 0xb1, 0x15, 0x04, 0x20, 0x00, 0x00, // 1019: lock cmpxchg [0x2004], edx
                0x75, 0xf4, // 1021: jnz 1017
                0xff, 0x05, 0x08, 0x20, 0x00, 0x00, // 1023: inc dword [0x2008]
                0xc7, 0x05, 0x04, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 1029: mov dword [0x2004], 0
                0x49, // 1033: dec ecx
                0x75, 0xcf, // 1034: jnz 1005
                0xf4); // 1036: hlt
        int vcpus = 4;
        X86Engine engine = new X86Engine();
        try (TestGuest g = new TestGuest("smp", 1 << 20, PageState.SHARED)) {
            g.memory.write(0x1000, MemorySegment.ofArray(code));
            List<Thread> threads = new ArrayList<>();
            ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
            List<Vcpu> cpus = new ArrayList<>();
            io.cloister.api.cpu.EngineVm vm = engine.createVm(g.view, CocoCpu.NONE);
            for (int i = 0; i < vcpus; i++) {
                Vcpu cpu = vm.createVcpu(i, 0x1000, 0);
                cpus.add(cpu);
                threads.add(Thread.ofPlatform().start(() -> {
                    Exit e = cpu.run();
                    if (!(e instanceof Exit.Halt)) {
                        problems.add("vCPU " + cpu.index() + ": " + e);
                    }
                }));
            }
            long deadline = System.nanoTime() + 60_000_000_000L;
            for (Thread t : threads) {
                t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            }
            boolean stuck = threads.stream().anyMatch(Thread::isAlive);
            if (stuck) {
                // A broken lock spins for ever: stop the vCPUs before their memory goes away.
                cpus.forEach(Vcpu::requestExit);
                for (Thread t : threads) {
                    t.join();
                }
            }
            assertTrue(!stuck && problems.isEmpty(), (stuck ? "vCPUs still spinning after 60 s; " : "") + problems);
            assertEquals((long) vcpus * iterations, g.guestReadLong(0x2000) & 0xffffffffL, "lock xadd total");
            assertEquals((long) vcpus * iterations, g.guestReadLong(0x2008) & 0xffffffffL, "increments under the spinlock");
            assertEquals(0, g.guestReadLong(0x2004) & 0xffffffffL, "lock released");
        }
    }

    /** CPUID leaf 1 reports each vCPU's index as its initial APIC ID (EBX[31:24]). */
    @Test
    void eachVcpuHasItsOwnApicId() throws Exception {
        X86Engine engine = new X86Engine();
        try (TestGuest g = new TestGuest("apic", 1 << 20, PageState.SHARED)) {
            g.memory.write(0x1000, MemorySegment.ofArray(bytes(0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0xa2, 0xf4))); // mov eax,1; cpuid; hlt
            io.cloister.api.cpu.EngineVm vm = engine.createVm(g.view, CocoCpu.NONE);
            for (int i : new int[] {0, 1, 3}) {
                Vcpu cpu = vm.createVcpu(i, 0x1000, 0);
                assertTrue(cpu.run() instanceof Exit.Halt);
                assertEquals(i, cpu.registers().get("rbx") >>> 24);
            }
        }
    }
}
