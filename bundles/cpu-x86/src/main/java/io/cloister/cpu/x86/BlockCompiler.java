package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.VcpuMembers.BLOCK_RUN;

import java.lang.classfile.ClassFile;
import java.lang.constant.ClassDesc;
import java.lang.constant.ConstantDescs;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Compiles a run of decoded instructions into a hidden class whose {@code run} does what
 * {@code X86Vcpu.execDecoded} would do for each, with every decoded field a constant. Register
 * operands become array accesses (a byte or word merged into its register, which of AH..BH or
 * SPL..DIL a byte names fixed by the instruction's REX), CMOVcc a branch, and the carry of ADC/SBB
 * whose flags nothing sees comes from the block's record of the last flag-setting instruction
 * where it has one; the rest calls the vCPU's own small helpers
 * (memory through the TLB, lazy flags, stack), which the JIT inlines at these hot call sites. A
 * block is a region of one page ({@link Region#decode}): from its first instruction it follows both ways
 * of a conditional branch and the target of a direct JMP to instructions at or after the first,
 * and stops at calls, returns, indirect jumps, forms left to the interpreter that it cannot run
 * through an op ({@link #blockOp}: the others it calls, as a trace would), the page's end and
 * after {@link #MAX} instructions; every other way out (a branch to code outside the region, a
 * gap in it) returns the next rip to the dispatcher.
 * A write that hits code or MMIO stops it after that instruction. An instruction whose flags a
 * later one overwrites unseen ({@link FlagLiveness}) computes its result alone: plain JVM
 * arithmetic for the ALU, IMUL, INC/DEC and shifts or rotates by an immediate. The vCPU members emitted code
 * uses are resolved when the compiler is first used ({@link VcpuMembers}).
 */
final class BlockCompiler {
    static final int MAX = 48;

    private static final MethodHandles.Lookup LOOKUP = MethodHandles.lookup();
    private static final AtomicLong IDS = new AtomicLong();
    private static final ClassDesc BLOCK = ClassDesc.of(Block.class.getName());
    // Blocks are class files of version 49 (Java 5), without stack maps: the JVM verifies them by
    // inference, in its own code, instead of the ClassFile API working out every branch target's
    // frame in Java (StackMapGenerator), whose code the JIT then had to compile as well: C2 spent
    // about 0.5 s of a Linux boot on it. Linux boot, two runs of six rounds against version 69 with
    // stack maps: exit 0.961 and 0.957, the JIT's CPU 4.68 -> 4.20 s and 5.27 -> 4.84 s
    // (benchmarks/results/linux-boot-2026-12-04-session24-class-version-49-*.txt). The emitted code
    // needs nothing newer: no invokedynamic, no dynamic constants.
    // No class hierarchy resolver either: only the stack maps' frames needed one.
    private static final ClassFile CF = ClassFile.of(ClassFile.StackMapsOption.DROP_STACK_MAPS);

    private BlockCompiler() {
    }

    /**
     * The op by which a block runs a form left to the interpreter (a GENERIC entry), or null where
     * it cannot: the block calls it (DecodedPath.blockOp) where a trace would run it; its own op
     * (SystemOps.inBlock), else the interpreter's general switch (Ops.Slow) for the forms
     * {@link SlowForms} lets a block run. The boot's and user space's hottest such forms are SSE2
     * moves and compares (glibc's string functions): with every one ending a block, and a trace
     * starting at one never compiled, they kept the code around them in traces for good.
     */
    static Ops.Op blockOp(Insn in) {
        if (in.kind != Insn.GENERIC) {
            return null;
        }
        Ops.Op op = SystemOps.inBlock(in);
        if (op == null && in.code64 && SlowForms.inBlock(in.shape)) {
            op = new Ops.Slow(in);
        }
        return op;
    }

    /** Whether a block may hold this instruction: any but a form left to the interpreter without a {@link #blockOp}. */
    static boolean inBlock(Insn in) {
        return in.kind != Insn.GENERIC || blockOp(in) != null;
    }

    /** Forms that may fault or leave their block (a memory access, the stack, #DE, a form run by its op): pos is stored before them. */
    static boolean mayFaultOrExit(Insn in) {
        return in.kind == Insn.GENERIC || in.rm < 0 && in.kind != Insn.LEA && in.kind != Insn.NOP && in.kind != Insn.CONVERT || in.kind == Insn.PUSH
                || in.kind == Insn.POP || in.kind == Insn.CALL || in.kind == Insn.RET || in.kind == Insn.CALL_IND
                || in.kind == Insn.GROUP3 && in.sub >= 6; // #DE
    }

    /** Unconditional transfers: control never falls through them (a trace ends there; a region goes on only at a JMP's target). */
    static boolean ends(Insn in) {
        return switch (in.kind) {
            case Insn.JMP, Insn.CALL, Insn.RET, Insn.JMP_IND, Insn.CALL_IND -> true;
            default -> false;
        };
    }

    /** Decodes the region from physical {@code pa} (RAM) and compiles it; null when the first instruction cannot be. */
    static Block compile(MemorySegment ram, long pa, boolean code64, int max) {
        Region r = Region.decode(ram, pa, code64, max);
        return r.insns().isEmpty() ? null : compile(r, code64);
    }

    /** As {@link #compile}, the instructions straight on from {@code pa} only (tests: exactly the instructions asked for). */
    static Block compileStraight(MemorySegment ram, long pa, boolean code64, int max) {
        List<Insn> insns = Region.straight(ram, pa, code64, max);
        return insns.isEmpty() ? null : compile(new Region(insns, Region.offsets(insns)), code64);
    }

    /** Each instruction's op where the block runs it through one (blockOp), or null when none does. */
    private static Ops.Op[] ops(Region region) {
        List<Insn> insns = region.insns();
        Ops.Op[] ops = null;
        for (int k = 0; k < insns.size(); k++) {
            Ops.Op op = blockOp(insns.get(k));
            if (op != null) {
                if (ops == null) {
                    ops = new Ops.Op[insns.size()];
                }
                ops[k] = op;
            }
        }
        return ops;
    }

    /** Compiles a region (not empty) into a block. */
    static Block compile(Region region, boolean code64) {
        if (NativeBlockCompiler.enabled && code64) {
            NativeBlock nb = NativeBlockCompiler.compile(region);
            if (nb != null) {
                nb.offsets = region.starts();
                return nb;
            }
        }
        return compileBytecode(region, code64);
    }

    /** Compiles a region (not empty) into a block of bytecode. */
    static Block compileBytecode(Region region, boolean code64) {
        ClassDesc name = ClassDesc.of(BlockCompiler.class.getPackageName() + ".Block$" + IDS.incrementAndGet());
        byte[] bytes = CF.build(name, cb -> {
            cb.withVersion(ClassFile.JAVA_5_VERSION, 0);
            cb.withSuperclass(BLOCK);
            cb.withFlags(ClassFile.ACC_FINAL | ClassFile.ACC_SUPER);
            cb.withMethodBody(ConstantDescs.INIT_NAME, ConstantDescs.MTD_void, 0, code -> code.aload(0)
                    .invokespecial(BLOCK, ConstantDescs.INIT_NAME, ConstantDescs.MTD_void).return_());
            cb.withMethodBody(BLOCK_RUN.name(), BLOCK_RUN.type(), ClassFile.ACC_FINAL, code -> new BlockEmitter(code, code64).block(region));
        });
        try {
            Class<?> c = LOOKUP.defineHiddenClass(bytes, true).lookupClass();
            Block b = (Block) c.getDeclaredConstructor().newInstance();
            b.offsets = region.starts();
            b.ops = ops(region);
            return b;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("block compilation failed", e);
        }
    }
}
