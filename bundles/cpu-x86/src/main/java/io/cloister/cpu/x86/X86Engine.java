package io.cloister.cpu.x86;

import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import org.osgi.service.component.annotations.Component;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.cpu.EngineVm;
import io.cloister.api.cpu.Vcpu;
import io.cloister.api.memory.GuestView;

/** The software engine: runs everywhere, no /dev/kvm needed. */
@Component(property = CpuEngine.PROPERTY + "=emulator")
public class X86Engine implements CpuEngine {
    /** What the virtual CPU reports about itself (CPUID, model-specific registers). */
    interface Model {
        int[] cpuid(int leaf, int subleaf);

        /** The value of an MSR this model has beyond the architectural ones, or null (#GP). */
        Long msr(int msr);
    }

    /**
     * The default model: a 64-bit integer CPU with NX, POPCNT, LZCNT, SYSCALL, RDTSCP, RDRAND, RDSEED and SERIALIZE, no FPU/SSE
     * (the vCPU adds its APIC's CPUID bits). Intel's vendor string: Linux takes the TSC frequency
     * from leaves 0x15/0x16 only for Intel (no calibration against the PIT, which a slow emulator
     * fails), and the ARCH_CAPABILITIES MSR (leaf 7 EDX[29]) tells it the vulnerabilities that need
     * mitigations (page-table isolation, buffer clearing) are absent. Global pages (PGE): Linux
     * then maps its kernel global, and the TLB keeps those entries across its CR3 writes
     * (Memory.flushNonGlobal). PSE: Linux maps its direct map with 2 MiB pages only where PSE is
     * offered; the walk takes large pages in long mode regardless, and 32-bit paging, whose 4 MiB
     * pages PSE is about, is not offered at all.
     */
    static final Model DEFAULT = new Model() {
        private final int[] vendor = words("GenuineIntel");

        @Override
        public int[] cpuid(int leaf, int subleaf) {
            return switch (leaf) {
                case 0 -> new int[] {0x16, vendor[0], vendor[2], vendor[1]};
                case 1 -> new int[] {0x000606a0, 0x00010800, (1 << 23) | (1 << 30) | (1 << 31), // POPCNT, RDRAND, hypervisor
                        (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 13) | (1 << 15)}; // PSE, TSC, MSR, PAE, CX8, PGE, CMOV
                // TSC_ADJUST, RDSEED; SERIALIZE, ARCH_CAPABILITIES. SERIALIZE: Linux's sync_core() is then one
                // instruction instead of an IRET to itself (about 100,000 of them in a boot, one per
                // text_poke_early of its alternatives, ftrace and jump-label patching).
                case 7 -> subleaf == 0 ? new int[] {0, 1 << 1 | 1 << 18, 0, 1 << 14 | 1 << 29} : new int[4];
                // The TSC (3 GHz) as 3 times the core crystal clock, which is the APIC timer's 1 GHz.
                case 0x15 -> new int[] {1, 3, 1_000_000_000, 0};
                case 0x16 -> new int[] {3000, 3000, 1000, 0}; // base, maximum and bus frequencies in MHz
                case 0x80000000 -> new int[] {0x80000008, 0, 0, 0};
                // LAHF in 64-bit mode, LZCNT; SYSCALL, NX, RDTSCP, long mode
                case 0x80000001 -> new int[] {0, 0, 1 | 1 << 5, (1 << 11) | (1 << 20) | (1 << 27) | (1 << 29)};
                case 0x80000007 -> new int[] {0, 0, 0, 1 << 8}; // invariant TSC
                case 0x80000008 -> new int[] {0x3030, 0, 0, 0};
                default -> new int[4];
            };
        }

        @Override
        public Long msr(int msr) {
            return null;
        }
    };

    static int[] words(String twelve) {
        ByteBuffer b = ByteBuffer.wrap(twelve.getBytes(StandardCharsets.US_ASCII)).order(ByteOrder.LITTLE_ENDIAN);
        return new int[] {b.getInt(0), b.getInt(4), b.getInt(8)};
    }

    private final boolean decodedCache;

    public X86Engine() {
        this(true);
    }

    /**
     * Runs of a block's first instruction on the decoded path before the block is compiled. Each
     * compiled block is a class the JVM interprets, then compiles at two tiers: on the Linux boot,
     * whose code is mostly cold, a threshold of 256 made about 8,000 blocks and their JIT work cost
     * more than it saved (48 s of CPU against 30 s at 8,192 and 26-31 s at 32,768, same run); only
     * code that stays hot is worth a class. 8,192 rather than 16,384 since the launcher runs C2 at
     * the lowest priority, where its work on the extra classes no longer takes the vCPU's core:
     * the boot 0.965 and 0.935 of 16,384's time in two six-round runs, about 1,080 blocks against
     * 590 (benchmarks/results/2026-12-04-session23-speed.md); 4,096 had measured slower then.
     * 4,096 since C2 no longer compiles looping blocks twice (lib/jvm.args, Tier4BackEdgeThreshold),
     * which left its work room for the extra blocks. Two eight-round runs against 8,192: exit
     * medians 10.90 against 11.42 s and 10.65 against 11.35 s (round by round 0.930 and 1.008 on a
     * noisy host), vCPU 7.62 against 7.97 s and 7.57 against 8.07 s; about 1,430 blocks against
     * 1,050, 7.5 % of the instructions in traces against 10.4 %. 2,048 against 4,096: 1.086
     * (benchmarks/results/2026-12-04-session28-speed.md). The property is for benchmarks comparing
     * thresholds.
     */
    static final int COMPILE_THRESHOLD = Integer.getInteger("cloister.x86.compileThreshold", 4096);

    /**
     * Runs of a block's first instruction before the block is compiled when native code takes that
     * instruction (DecodedPath.threshold): a native block is made in about 20 µs of the compiler
     * thread with no class and no JIT work, so it pays off after a few dozen runs of the traces it
     * replaces. On the Linux boot, against 4,096: 256 was 0.964 of the boot's time (six alternated
     * rounds), 64 again 0.986 of 256's, 32 the same as 64 (1.009); about 11,500 blocks a boot
     * instead of 1,700, 1.6 % of the instructions in traces instead of 7.5 %.
     */
    static final int NATIVE_THRESHOLD = Integer.getInteger("cloister.x86.nativeThreshold", 64);

    /** With {@code decodedCache} false every instruction is decoded each time: the baseline of benchmarks. */
    public X86Engine(boolean decodedCache) {
        this(decodedCache, COMPILE_THRESHOLD);
    }

    /** For tests: blocks compiled after {@code compileThreshold} runs of their first instruction. */
    X86Engine(boolean decodedCache, int compileThreshold) {
        this.decodedCache = decodedCache;
        this.compileThreshold = compileThreshold;
    }

    private final int compileThreshold;

    @Override
    public String name() {
        return "emulator";
    }

    @Override
    public String unavailableReason() {
        return null;
    }

    @Override
    public EngineVm createVm(GuestView memory, CocoCpu coco) {
        return new Vm(memory, coco, CodeMap.forView(memory));
    }

    /** One VM: its vCPUs share what they know of decoded code (the code map). */
    final class Vm implements EngineVm {
        private final GuestView memory;
        private final CocoCpu coco;
        private final CodeMap codeMap;
        private final java.util.List<X86Vcpu> vcpus = new java.util.concurrent.CopyOnWriteArrayList<>();
        /** The vCPUs' local APICs; the TSC they count TSC deadlines in runs at a nominal 3 GHz, as RDTSC did. */
        private final io.cloister.cpu.x86.apic.VmApics apics = new io.cloister.cpu.x86.apic.VmApics(3_000_000_000L);
        /** Deterministic time, or null: the VM's timers follow the host's clock. */
        private io.cloister.api.cpu.InstructionClock icount;

        Vm(GuestView memory, CocoCpu coco, CodeMap codeMap) {
            this.memory = memory;
            this.coco = coco;
            this.codeMap = codeMap;
        }

        /**
         * {@inheritDoc} An {@code entry} of {@link EngineVm#WAIT_FOR_SIPI} (not a 32-bit address) makes an AP
         * that waits for INIT and a start-up IPI from another vCPU, as an AP does at power-up. Asked
         * again for such an AP's index, with an entry, it starts that AP there (what START_VCPU means
         * for an AP that waits) and returns the same vCPU, which its thread already runs; for any other
         * existing index it throws IllegalStateException.
         */
        @Override
        public Vcpu createVcpu(int index, long entry, long startInfo) {
            for (X86Vcpu existing : vcpus) {
                if (existing.index == index) {
                    // An AP made to wait for SIPI, started at an entry instead (START_VCPU): the same vCPU, already run by its thread.
                    if (entry == EngineVm.WAIT_FOR_SIPI || !existing.requestStart(entry, startInfo)) {
                        throw new IllegalStateException("vCPU " + index + " exists and does not wait for a start-up IPI");
                    }
                    return existing;
                }
            }
            X86Vcpu v = new X86Vcpu(index, memory, DEFAULT, coco, Math.max(entry, 0), startInfo, decodedCache, codeMap);
            v.compileThreshold = compileThreshold;
            v.apic = apics.create(index);
            v.icount = icount;
            if (entry == EngineVm.WAIT_FOR_SIPI) {
                if (index == 0) {
                    throw new IllegalArgumentException("vCPU 0 is the boot processor: it cannot wait for a start-up IPI");
                }
                v.waitForStartup();
            }
            vcpus.add(v);
            return v;
        }

        /**
         * Deterministic time needs every instruction counted where the timers are checked: this
         * engine counts exactly (compiled blocks add their length as they leave). One vCPU only: with
         * several, the order in which their threads reach a deadline would be the host's.
         */
        @Override
        public boolean clockByInstructions(io.cloister.api.cpu.InstructionClock clock) {
            if (!vcpus.isEmpty()) {
                throw new IllegalStateException("deterministic time is set before the vCPU is created");
            }
            icount = clock;
            return true;
        }

        /** The code map is the VM's, so telling one vCPU reaches them all (each syncs at its next slice). */
        @Override
        public void memoryWritten(long gpa, long length) {
            if (!vcpus.isEmpty()) {
                vcpus.get(0).memoryWritten(gpa, length);
            }
        }

        @Override
        public io.cloister.api.irq.LocalApics localApics() {
            return apics;
        }

        @Override
        public void close() {
            vcpus.clear();
        }
    }
}
