package io.cloister.benchmarks;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.cpu.Exit;
import io.cloister.api.cpu.Vcpu;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * benchmarks/kvm-exits: nanoseconds per exit round trip (guest `out` to a port, back into the
 * guest) on Cloister's KVM engine; the script runs the same loop from a C program
 * (src/main/c/kvm_exit_loop.c) in the same run. Prints "exits ns_per_exit bytes_allocated_per_exit".
 */
public final class KvmExits {
    private KvmExits() {
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 20_000;
        CpuEngine kvm = (CpuEngine) Class.forName("io.cloister.cpu.kvm.KvmEngine").getConstructor().newInstance();
        String why = kvm.unavailableReason();
        if (why != null) {
            System.out.println("KVM unavailable: " + why);
            return;
        }
        double best = Double.MAX_VALUE;
        long exits = 0;
        double bytesPerExit = 0;
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        for (int round = 0; round < 3; round++) { // the first rounds warm up the JIT
            try (TestGuest g = new TestGuest("exits", 1 << 20, PageState.SHARED)) {
                // mov $n, %ecx; 1: out %al, $0xf0; loop 1b; hlt
                byte[] code = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN).put((byte) 0xb9).putInt(n)
                        .put(new byte[] {(byte) 0xe6, (byte) 0xf0, (byte) 0xe2, (byte) 0xfc, (byte) 0xf4}).array();
                g.memory.write(0x1000, MemorySegment.ofArray(code));
                try (io.cloister.api.cpu.EngineVm vm = kvm.createVm(g.view, CocoCpu.NONE); Vcpu cpu = vm.createVcpu(0, 0x1000, 0)) {
                    long count = 0;
                    long a0 = threads.getCurrentThreadAllocatedBytes();
                    long t0 = System.nanoTime();
                    while (true) {
                        Exit e = cpu.run();
                        if (e instanceof Exit.Io) {
                            count++;
                        } else if (e instanceof Exit.Halt) {
                            break;
                        } else {
                            throw new IllegalStateException("unexpected exit " + e);
                        }
                    }
                    long t = System.nanoTime() - t0;
                    bytesPerExit = (double) (threads.getCurrentThreadAllocatedBytes() - a0) / count; // of the last round
                    best = Math.min(best, (double) t / count);
                    exits = count;
                }
            }
        }
        System.out.printf("%d %.1f %.1f%n", exits, best, bytesPerExit);
    }
}
