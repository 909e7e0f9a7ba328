package io.cloister.benchmarks;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.cloister.api.cpu.CpuEngine;
import io.cloister.backend.plain.PlainPolicy;
import io.cloister.devices.BusFactory;
import io.cloister.devices.DebugExit;
import io.cloister.devices.Hpet;
import io.cloister.devices.Uart16550;
import io.cloister.memory.MemoryManagerImpl;
import io.cloister.restrictedmem.RestrictedMemory;
import io.cloister.testkit.GuestImages;
import io.cloister.vmm.StandaloneVm;

/**
 * benchmarks/emulator-speed: guest instructions per second of the software engine on three guests,
 * the integer workload, chase.elf (pointer chasing, calls, byte loops) and mpi.elf (Linux's
 * multi-precision arithmetic, which its boot's RSA self-test runs), each against the plain
 * interpreter and, when qemu-system-x86_64 is installed, QEMU TCG on the same guest and iterations
 * in the same run. QEMU's start-up is measured with 0 iterations and subtracted.
 * The guest runs in a VM as bin/vmm makes it (the VMM's exit loop, the core devices, no CoCo),
 * without the framework.
 */
public final class EmulatorSpeed {
    private EmulatorSpeed() {
    }

    /** A guest and its iterations per run when the command line gives the workload's. */
    private record Guest(String elf, double iterationsPerWorkloadIteration) {
    }

    /**
     * The integer workload, chase.elf (pointer chasing, calls, byte loops; guests/chase) and mpi.elf
     * (multi-precision multiply-accumulate; guests/mpi), at about the same instruction count per run.
     */
    private static final List<Guest> GUESTS = List.of(new Guest("workload.elf", 1), new Guest("chase.elf", 0.25),
            new Guest("mpi.elf", 11));

    public static void main(String[] args) throws Exception {
        int iterations = args.length > 0 ? Integer.parseInt(args[0]) : 300;
        Class<?> x86 = Class.forName("io.cloister.cpu.x86.X86Engine");
        // Baseline in the same run: the plain interpreter, which decodes every instruction each time.
        CpuEngine interpreter = (CpuEngine) x86.getConstructor(boolean.class).newInstance(false);
        CpuEngine engine = (CpuEngine) x86.getConstructor().newInstance();
        String qemu = which("qemu-system-x86_64");
        for (Guest g : GUESTS) {
            Path elf = GuestImages.of(g.elf());
            int n = Math.max(1, (int) Math.round(iterations * g.iterationsPerWorkloadIteration()));
            System.out.printf("== %s, iterations=%d%n", g.elf(), n);
            double baseMips = mips(interpreter, elf, n, "interpreter (baseline, decodes every time)")[0];
            double[] m = mips(engine, elf, n, "cloister emulator (decoded cache + compiled blocks)");
            System.out.printf("speed-up over the interpreter: %.1fx%n", m[0] / baseMips);
            if (qemu == null) {
                System.out.println("qemu-system-x86_64 not installed: no QEMU comparison");
                continue;
            }
            long base = Long.MAX_VALUE;
            long full = Long.MAX_VALUE;
            for (int run = 0; run < 3; run++) {
                base = Math.min(base, qemu(qemu, elf, 0));
                full = Math.min(full, qemu(qemu, elf, n));
            }
            double qemuSeconds = (full - base) / 1e9;
            double qemuMips = m[1] / qemuSeconds / 1e6;
            System.out.printf("qemu tcg (-M microvm,accel=tcg): %.3f s beyond its %.3f s start-up: %.1f million instructions/s%n",
                    qemuSeconds, base / 1e9, qemuMips);
            System.out.printf("ratio cloister/qemu: %.2f%n", m[0] / qemuMips);
        }
    }

    /** Best of three runs after warming up: million instructions per second and the instruction count. */
    private static double[] mips(CpuEngine engine, Path elf, int iterations, String label) throws Exception {
        // Warm-up until two runs in a row agree within 3 % (at most 8): the JIT compiles hundreds of
        // block classes in the background, and a run measured before it is done measures that.
        double last = 0;
        for (int w = 0; w < 8; w++) {
            long t0 = System.nanoTime();
            run(engine, elf, iterations);
            double speed = 1e9 / (System.nanoTime() - t0);
            if (last > 0 && Math.abs(speed - last) / last < 0.03) {
                break;
            }
            last = speed;
        }
        long best = Long.MAX_VALUE;
        long instructions = 0;
        String console = "";
        for (int run = 0; run < 3; run++) {
            long t0 = System.nanoTime();
            StandaloneVm.Result r = run(engine, elf, iterations);
            long t = System.nanoTime() - t0;
            best = Math.min(best, t);
            instructions = r.instructions();
            console = r.console().strip();
        }
        double mips = instructions / (best / 1e9) / 1e6;
        System.out.printf("%s: %s%n", label, console);
        System.out.printf("%s: %,d instructions in %.3f s: %.1f million instructions/s%n", label, instructions, best / 1e9, mips);
        return new double[] {mips, instructions};
    }

    private static StandaloneVm.Result run(CpuEngine engine, Path elf, int iterations) throws InterruptedException {
        try (BusFactory bus = new BusFactory(250)) {
            StandaloneVm.Result r = new StandaloneVm(engine, new PlainPolicy(), new MemoryManagerImpl(), new RestrictedMemory(), bus,
                    List.of(Uart16550::new, DebugExit::new, Hpet::new)).run(elf, 16 << 20, "iterations=" + iterations);
            if (r.failed()) {
                throw new IllegalStateException(elf.getFileName() + " failed: " + r.status());
            }
            return r;
        }
    }

    private static long qemu(String qemu, Path elf, int iterations) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(qemu, "-M", "microvm,accel=tcg", "-cpu", "max", "-m", "64", "-nodefaults",
                "-nographic", "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel",
                elf.toString(), "-append", "iterations=" + iterations));
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("qemu did not finish");
        }
        return System.nanoTime() - t0;
    }

    static String which(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir, tool);
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        return null;
    }
}
