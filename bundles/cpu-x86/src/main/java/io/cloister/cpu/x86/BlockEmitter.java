package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.VcpuMembers.ADC_FAST;
import static io.cloister.cpu.x86.VcpuMembers.ADD_FAST;
import static io.cloister.cpu.x86.VcpuMembers.BIT_SCAN;
import static io.cloister.cpu.x86.VcpuMembers.BLOCK_OP;
import static io.cloister.cpu.x86.VcpuMembers.BLOCK_STOP;
import static io.cloister.cpu.x86.VcpuMembers.BSWAP;
import static io.cloister.cpu.x86.VcpuMembers.CARRY_FLAG;
import static io.cloister.cpu.x86.VcpuMembers.COND_ADD;
import static io.cloister.cpu.x86.VcpuMembers.COND_FAST;
import static io.cloister.cpu.x86.VcpuMembers.COND_LOGIC;
import static io.cloister.cpu.x86.VcpuMembers.COND_SUB;
import static io.cloister.cpu.x86.VcpuMembers.CONVERT;
import static io.cloister.cpu.x86.VcpuMembers.CPU;
import static io.cloister.cpu.x86.VcpuMembers.GROUP3_FAST;
import static io.cloister.cpu.x86.VcpuMembers.IMUL_FAST;
import static io.cloister.cpu.x86.VcpuMembers.INC_DEC_FAST;
import static io.cloister.cpu.x86.VcpuMembers.LOGIC_FAST;
import static io.cloister.cpu.x86.VcpuMembers.LOOP_BACK;
import static io.cloister.cpu.x86.VcpuMembers.POP;
import static io.cloister.cpu.x86.VcpuMembers.POS;
import static io.cloister.cpu.x86.VcpuMembers.RIP_FIELD;
import static io.cloister.cpu.x86.VcpuMembers.PUSH;
import static io.cloister.cpu.x86.VcpuMembers.FAST_ARRAY;
import static io.cloister.cpu.x86.VcpuMembers.FAST_TABLES;
import static io.cloister.cpu.x86.VcpuMembers.LOAD_SIZED;
import static io.cloister.cpu.x86.VcpuMembers.SEG_BASE;
import static io.cloister.cpu.x86.VcpuMembers.SHIFT_FAST;
import static io.cloister.cpu.x86.VcpuMembers.SKIP;
import static io.cloister.cpu.x86.VcpuMembers.SBB_FAST;
import static io.cloister.cpu.x86.VcpuMembers.SUB_FAST;
import static io.cloister.cpu.x86.VcpuMembers.TARGET;
import static io.cloister.cpu.x86.VcpuMembers.STORE_SIZED;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.classfile.TypeKind;
import java.lang.constant.ConstantDescs;
import java.util.List;

/**
 * Emits one block's {@code run} for {@link BlockCompiler}: each decoded instruction of the region as
 * the bytecode of what {@code X86Vcpu.execDecoded} would do for it, its decoded fields constants,
 * with the block's loops, forward branches and ways out (see BlockCompiler's class comment).
 */
final class BlockEmitter {
    private static final int CPU_SLOT = 1;
    private static final int REGS = 2;
    private static final int RIP = 3;
    private final CodeBuilder code;
    private final boolean code64;
    private final int next;
    private final int ea;
    private final int tmp;
    private final int tmp2;
    // The last flag-setting instruction of this block, if its flags are known at compile time
    // (FLAGS_SUB: sub/cmp, FLAGS_LOGIC: and/or/xor/test, FLAGS_ADD: add), with its operands and
    // result (masked to its size) in locals: a condition after it is the Conditions rule of these
    // locals, which the JIT inlines, not a call of condFast (its switch over the lazy state is too
    // big to inline). Its lazy flags are set all the same, unless nothing can see them (FlagLiveness).
    private static final int FLAGS_UNKNOWN = 0, FLAGS_SUB = 1, FLAGS_LOGIC = 2, FLAGS_ADD = 3;
    private int flags = FLAGS_UNKNOWN;
    private int flagsSize;
    private final int fa;
    private final int fb;
    private final int fres;
    /**
     * The REX prefix of the instruction being emitted: which registers its byte operands name.
     * Register operands are emitted inline with it, so no helper a block calls reads the
     * vCPU's rexPresent (a fault's restart decodes the instruction again).
     */
    private boolean rex;
    /** Per instruction: its flags are overwritten before anything can see them ({@link FlagLiveness}). */
    private boolean[] deadFlags;

    /**
     * Per instruction, where a taken branch of the block goes to it, the label the branch jumps
     * to inside the method: back (a loop, DecodedPath.loopBack) or forward (DecodedPath.skip); else null.
     */
    private Label[] heads;
    /** Per JCC or JMP, the index of the block's instruction it goes to; else (or outside the block) -1. */
    private int[] branchTo;

    BlockEmitter(CodeBuilder code, boolean code64) {
        this.code = code;
        this.code64 = code64;
        next = code.allocateLocal(TypeKind.LONG);
        ea = code.allocateLocal(TypeKind.LONG);
        tmp = code.allocateLocal(TypeKind.LONG);
        tmp2 = code.allocateLocal(TypeKind.LONG);
        fa = code.allocateLocal(TypeKind.LONG);
        fb = code.allocateLocal(TypeKind.LONG);
        fres = code.allocateLocal(TypeKind.LONG);
        tables = code.allocateLocal(TypeKind.INT);
        fastArray = code.allocateLocal(TypeKind.REFERENCE);
    }

    /** The fast tables (Memory.fastArray), taken once at the block's entry as {@link #tables}. */
    private final int fastArray;

    /**
     * Where the fast tables of the block's privilege start (Memory.fastTables), taken once at
     * its entry: nothing a block runs changes the privilege of its accesses (far transfers,
     * IRET, SYSCALL and faults leave it), and every access would otherwise work it out again
     * from CS and supervisorAccess, which the JIT reloads after each access's fence.
     */
    private final int tables;

    void block(Region region) {
        List<Insn> insns = region.insns();
        int[] starts = region.starts();
        deadFlags = FlagLiveness.dead(region);
        loopHeads(insns, starts);
        code.aload(CPU_SLOT).invokevirtual(CPU, FAST_TABLES.name(), FAST_TABLES.type()).istore(tables);
        code.aload(CPU_SLOT).invokevirtual(CPU, FAST_ARRAY.name(), FAST_ARRAY.type()).astore(fastArray);
        for (int k = 0; k < insns.size(); k++) {
            Insn in = insns.get(k);
            if (heads[k] != null) {
                code.labelBinding(heads[k]);
                flags = FLAGS_UNKNOWN; // reached from the back edge too: no flags known from instruction k - 1
            }
            // next = rip + end of this instruction
            code.lload(RIP).loadConstant((long) starts[k] + in.len).ladd().lstore(next);
            if (BlockCompiler.mayFaultOrExit(in)) {
                code.aload(CPU_SLOT).loadConstant(k).putfield(CPU, POS.name(), POS.type());
            }
            rex = in.rex;
            insn(in, k);
            if (!keepsFlags(in)) {
                flags = FLAGS_UNKNOWN; // set above by the forms whose flags are tracked
            }
            if (k + 1 < insns.size() && !region.fallsInto(k) && !(in.kind == Insn.JMP && branchTo[k] > k)) {
                // Control does not go on to the next instruction of the region (a gap before
                // it, or a JMP out): the block returns here; the next is reached by a branch.
                returnAfter(k + 1);
            }
        }
        returnAfter(insns.size());
    }

    /** Where each JCC or JMP of the block goes within it (branchTo), and the labels of those instructions (heads). */
    private void loopHeads(List<Insn> insns, int[] starts) {
        int n = insns.size();
        heads = new Label[n];
        branchTo = new int[n];
        for (int k = 0; k < n; k++) {
            Insn in = insns.get(k);
            branchTo[k] = -1;
            if (in.kind == Insn.JCC || in.kind == Insn.JMP) {
                long target = starts[k] + in.len + in.imm;
                for (int j = 0; j < n; j++) {
                    if (starts[j] == target) {
                        branchTo[k] = j;
                        if (heads[j] == null) {
                            heads[j] = code.newLabel();
                        }
                        break; // offsets only grow: one instruction starts there at most
                    }
                }
            }
        }
    }

    /** Returns {@code next} with {@code count} instructions completed. */
    private void returnAfter(int count) {
        finish(count);
        code.lload(next).lreturn();
    }

    /**
     * The taken way of a JCC or JMP k to an instruction j of the region: forward, jumps there
     * (the j - k - 1 instructions passed over off the count) and returns true; back, goes round
     * there unless DecodedPath.loopBack says to return. False then, and for a target outside
     * the region: the caller leaves the block.
     */
    private boolean branchInside(int k) {
        int j = branchTo[k];
        if (j > k) {
            if (j > k + 1) {
                code.aload(CPU_SLOT).loadConstant(j - k - 1).invokevirtual(CPU, SKIP.name(), SKIP.type());
            }
            code.goto_(heads[j]);
            return true;
        }
        if (j >= 0) {
            loopBack(k, j);
        }
        return false;
    }

    /** At a branch of instruction k back to instruction j: round again from j unless DecodedPath.loopBack says to return. */
    private void loopBack(int k, int j) {
        code.aload(CPU_SLOT).loadConstant(k + 1 - j).invokevirtual(CPU, LOOP_BACK.name(), LOOP_BACK.type()).ifne(heads[j]);
    }

    /** Forms that leave the arithmetic flags alone, and those whose flags the emitter tracks itself. */
    private static boolean keepsFlags(Insn in) {
        return switch (in.kind) {
            case Insn.ALU_RM_R, Insn.ALU_R_RM, Insn.ALU_RM_IMM -> in.sub != 2 && in.sub != 3; // adc, sbb: untracked
            case Insn.TEST_RM_R, Insn.TEST_RM_IMM, Insn.MOV_STORE, Insn.MOV_LOAD, Insn.MOV_IMM, Insn.JCC, Insn.JMP, Insn.CALL,
                    Insn.RET, Insn.PUSH, Insn.POP, Insn.LEA, Insn.MOVZX, Insn.MOVSX, Insn.SETCC, Insn.CMOVCC, Insn.NOP,
                    Insn.JMP_IND, Insn.CALL_IND, Insn.CONVERT, Insn.BSWAP -> true;
            default -> false;
        };
    }

    /** The second operand of an ALU or TEST form: its register (ALU_RM_R, TEST_RM_R) or its immediate. */
    private void regOrImmediate(Insn in, int size) {
        if (in.kind == Insn.ALU_RM_R || in.kind == Insn.TEST_RM_R) {
            getReg(in.reg, size);
        } else {
            code.loadConstant(in.imm);
        }
    }

    /** Records how many instructions completed. */
    private void finish(int count) {
        code.aload(CPU_SLOT).loadConstant(count).putfield(CPU, POS.name(), POS.type());
    }

    private void target(long disp) {
        code.lload(next).loadConstant(disp).ladd();
        if (!code64) {
            code.loadConstant(0xffffffffL).land();
        }
    }

    private void getReg(int reg, int size) {
        int at = size == 1 ? CpuState.byteRegHome(reg, rex) : reg;
        code.aload(REGS).loadConstant(at).laload();
        if (at != reg) {
            code.loadConstant(8).lushr();
        }
        mask(size);
    }

    /**
     * Stores the long on the stack into a register: the whole register for 8 bytes, zero-extended
     * for 4, the low byte or word (or AH..BH, the instruction's REX a constant) merged for 1 and 2.
     */
    private void setReg(int reg, int size) {
        if (size == 8 || size == 4) {
            if (size == 4) {
                code.loadConstant(0xffffffffL).land();
            }
            code.lstore(tmp).aload(REGS).loadConstant(reg).lload(tmp).lastore();
            return;
        }
        int at = size == 1 ? CpuState.byteRegHome(reg, rex) : reg;
        int shift = at != reg ? 8 : 0;
        long field = Flags.mask(size) << shift;
        code.loadConstant(Flags.mask(size)).land();
        if (shift != 0) {
            code.loadConstant(shift).lshl();
        }
        code.lstore(tmp).aload(REGS).loadConstant(at).aload(REGS).loadConstant(at).laload().loadConstant(~field).land()
                .lload(tmp).lor().lastore();
    }

    /**
     * Computes the effective address into the {@code ea} local: {@link Operands#offset} with its
     * decoded fields constants, emitted as the arithmetic it comes to (base, index shifted, the
     * displacement, the address-size mask), so that nothing of an absent base or index remains.
     */
    private void ea(Insn in, boolean withSegment) {
        if (in.base >= 0) {
            code.aload(REGS).loadConstant(in.base).laload();
        } else if (in.ripRelative) {
            code.lload(next);
        } else {
            code.lconst_0();
        }
        if (in.index >= 0) {
            code.aload(REGS).loadConstant(in.index).laload();
            if (in.scale != 0) {
                code.loadConstant(in.scale).lshl();
            }
            code.ladd();
        }
        if (in.disp != 0) {
            code.loadConstant(in.disp).ladd();
        }
        if (in.addressMask != -1L) {
            code.loadConstant(in.addressMask).land();
        }
        if (withSegment && in.seg != X86Vcpu.SEG_NONE) {
            code.aload(CPU_SLOT).loadConstant(in.seg).invokevirtual(CPU, SEG_BASE.name(), SEG_BASE.type()).ladd();
        }
        code.lstore(ea);
    }

    /** The index of an access size in LOAD_SIZED and STORE_SIZED: log2 of 1, 2, 4 or 8. */
    private static int sizeIndex(int size) {
        return switch (size) {
            case 1 -> 0;
            case 2 -> 1;
            case 4 -> 2;
            case 8 -> 3;
            default -> throw new IllegalArgumentException("no memory access of " + size + " bytes in a block");
        };
    }

    private void load(int size) {
        VcpuMembers.Method m = LOAD_SIZED[sizeIndex(size)];
        code.aload(CPU_SLOT).lload(ea).aload(fastArray).iload(tables).invokevirtual(CPU, m.name(), m.type());
    }

    /**
     * Pushes the long in local {@code value} (the caller checks for a write into code after):
     * 8 bytes in 64-bit code through the fast tables' store inline, as Memory.push does it (the
     * write first, so that a fault leaves RSP as it was); other sizes and modes call Memory.push.
     */
    private void push(int value, int size) {
        if (!code64 || size != 8) {
            code.aload(CPU_SLOT).lload(value).loadConstant(size).invokevirtual(CPU, PUSH.name(), PUSH.type());
            return;
        }
        code.aload(REGS).loadConstant(X86Vcpu.RSP).laload().loadConstant(8L).lsub().lstore(ea);
        code.aload(CPU_SLOT).lload(ea).lload(value).aload(fastArray).iload(tables).invokevirtual(CPU, STORE_SIZED[sizeIndex(8)].name(), STORE_SIZED[sizeIndex(8)].type());
        code.aload(REGS).loadConstant(X86Vcpu.RSP).lload(ea).lastore();
    }

    /** Pops into the operand stack: inline as {@link #push} for 8 bytes in 64-bit code (the read first), else Memory.pop. */
    private void pop(int size) {
        if (!code64 || size != 8) {
            code.aload(CPU_SLOT).loadConstant(size).invokevirtual(CPU, POP.name(), POP.type());
            return;
        }
        code.aload(REGS).loadConstant(X86Vcpu.RSP).laload().lstore(ea);
        code.aload(CPU_SLOT).lload(ea).aload(fastArray).iload(tables).invokevirtual(CPU, LOAD_SIZED[sizeIndex(8)].name(), LOAD_SIZED[sizeIndex(8)].type());
        code.aload(REGS).loadConstant(X86Vcpu.RSP).lload(ea).loadConstant(8L).ladd().lastore();
    }

    /** Writes the long on the stack to memory at {@code ea}; stops the block if that hit code or MMIO. */
    private void store(int size, int k) {
        VcpuMembers.Method m = STORE_SIZED[sizeIndex(size)];
        code.lstore(tmp).aload(CPU_SLOT).lload(ea).lload(tmp).aload(fastArray).iload(tables).invokevirtual(CPU, m.name(), m.type());
        stopCheck(k);
    }

    /** After a write: if it hit code or MMIO, the block ends after instruction {@code k}. */
    private void stopCheck(int k) {
        Label go = code.newLabel();
        code.aload(CPU_SLOT).getfield(CPU, BLOCK_STOP.name(), BLOCK_STOP.type()).ifeq(go);
        returnAfter(k + 1);
        code.labelBinding(go);
    }

    /** Loads the r/m operand; for memory, leaves its address in {@code ea}. */
    private void loadRm(Insn in, int size) {
        if (in.rm >= 0) {
            getReg(in.rm, size);
        } else {
            ea(in, true);
            load(size);
        }
    }

    private void storeRm(Insn in, int size, int k) {
        if (in.rm >= 0) {
            setReg(in.rm, size);
        } else {
            store(size, k);
        }
    }

    private void alu(int op, int size, boolean dead) {
        // stack: a, b -> result
        if (dead) { // the result alone: no lazy flags
            switch (op) {
                case 0 -> code.ladd();
                case 1 -> code.lor();
                case 4 -> code.land();
                case 6 -> code.lxor();
                case 2 -> { // adc
                    code.ladd();
                    carry();
                    code.ladd();
                }
                case 3 -> { // sbb
                    code.lsub();
                    carry();
                    code.lsub();
                }
                default -> code.lsub(); // sub, cmp
            }
            mask(size);
            flags = FLAGS_UNKNOWN;
            return;
        }
        int kind = switch (op) {
            case 0 -> FLAGS_ADD;
            case 1, 4, 6 -> FLAGS_LOGIC;
            case 5, 7 -> FLAGS_SUB;
            default -> FLAGS_UNKNOWN; // adc, sbb
        };
        if (kind == FLAGS_UNKNOWN) { // adc, sbb: lazy flags, the carry in from the block's record where it has one
            VcpuMembers.Method m = op == 2 ? ADC_FAST : SBB_FAST;
            code.lstore(tmp2).lstore(tmp).aload(CPU_SLOT).lload(tmp).lload(tmp2);
            carry();
            code.loadConstant(size).invokevirtual(CPU, m.name(), m.type());
            return; // flags unknown after it: block() resets them (keepsFlags)
        }
        mask(size);
        code.lstore(fb);
        mask(size);
        code.lstore(fa).aload(CPU_SLOT);
        if (kind == FLAGS_LOGIC) {
            code.loadConstant(op).lload(fa).lload(fb).loadConstant(size).invokevirtual(CPU, LOGIC_FAST.name(), LOGIC_FAST.type());
        } else {
            VcpuMembers.Method m = kind == FLAGS_ADD ? ADD_FAST : SUB_FAST;
            code.lload(fa).lload(fb).loadConstant(size).invokevirtual(CPU, m.name(), m.type());
        }
        code.dup2().lstore(fres);
        flags = kind;
        flagsSize = size;
    }

    /** Pushes CF as a long: from the block's locals where the last flag-setting instruction is known (condition B), else carryFlag. */
    private void carry() {
        if (flags == FLAGS_UNKNOWN) {
            code.aload(CPU_SLOT).invokevirtual(CPU, CARRY_FLAG.name(), CARRY_FLAG.type());
        } else {
            cond(2);
            code.i2l();
        }
    }

    private void mask(int size) {
        if (size != 8) {
            code.loadConstant(Flags.mask(size)).land();
        }
    }

    /**
     * Pushes condition {@code cc} as an int (0 or 1): where the block's last flag-setting
     * instruction is known, the {@link Conditions} rule of its operands in locals, with cc and
     * the size constant (inlined and folded by the JIT to a comparison); else condFast.
     */
    private void cond(int cc) {
        switch (flags) {
            case FLAGS_SUB, FLAGS_ADD -> {
                VcpuMembers.Static m = flags == FLAGS_SUB ? COND_SUB : COND_ADD;
                code.loadConstant(cc).lload(fa).lload(fb).loadConstant(flagsSize).invokestatic(m.owner(), m.name(), m.type());
            }
            case FLAGS_LOGIC -> code.loadConstant(cc).lload(fres).loadConstant(flagsSize)
                    .invokestatic(COND_LOGIC.owner(), COND_LOGIC.name(), COND_LOGIC.type());
            default -> code.aload(CPU_SLOT).loadConstant(cc).invokevirtual(CPU, COND_FAST.name(), COND_FAST.type());
        }
    }

    private void insn(Insn in, int k) {
        int size = in.size;
        switch (in.kind) {
            case Insn.MOV_STORE -> {
                if (in.rm < 0) {
                    ea(in, true);
                }
                getReg(in.reg, size);
                storeRm(in, size, k);
            }
            case Insn.MOV_LOAD -> {
                loadRm(in, size);
                setReg(in.reg, size);
            }
            case Insn.MOV_IMM -> {
                if (in.rm < 0) {
                    ea(in, true);
                }
                code.loadConstant(in.imm);
                storeRm(in, size, k);
            }
            case Insn.ALU_RM_R, Insn.ALU_RM_IMM -> {
                loadRm(in, size);
                regOrImmediate(in, size);
                alu(in.sub, size, deadFlags[k]);
                if (in.sub == 7) {
                    code.pop2();
                } else {
                    storeRm(in, size, k);
                }
            }
            case Insn.ALU_R_RM -> {
                getReg(in.reg, size);
                loadRm(in, size);
                alu(in.sub, size, deadFlags[k]);
                if (in.sub == 7) {
                    code.pop2();
                } else {
                    setReg(in.reg, size);
                }
            }
            case Insn.TEST_RM_R, Insn.TEST_RM_IMM -> {
                loadRm(in, size);
                regOrImmediate(in, size);
                alu(4, size, deadFlags[k]);
                code.pop2();
            }
            case Insn.JCC -> {
                // A taken branch to an instruction outside the region leaves the block; a branch
                // not taken goes on in it. A taken branch back to an instruction j of the block goes round inside the
                // method, so that the JIT sees the loop and the dispatcher is not entered per
                // iteration. loopBack counts k + 1 - j: the k + 1 done less the j that pos (an
                // index from the block's start) counts again when the block returns or faults.
                // A taken branch forward to an instruction j of the block jumps there, the
                // j - k - 1 instructions it passes over taken off the count.
                Label notTaken = code.newLabel();
                cond(in.sub);
                code.ifeq(notTaken);
                if (!branchInside(k)) {
                    finish(k + 1);
                    target(in.imm);
                    code.lreturn();
                }
                code.labelBinding(notTaken);
            }
            case Insn.JMP -> {
                // A jump back to an instruction of the block (the bottom of a loop whose test is at
                // its top) goes round inside the method as a taken conditional branch does; one
                // forward goes there as a taken conditional branch does (the instructions
                // between, the other arm of an if, off the count). Elsewhere it leaves the block.
                if (!branchInside(k)) {
                    target(in.imm);
                    code.lstore(next);
                }
            }
            case Insn.CALL -> {
                target(in.imm);
                code.lstore(tmp2);
                push(next, size);
                code.lload(tmp2).lstore(next); // before the check: a block ended by the push goes on at the target
                stopCheck(k);
            }
            case Insn.RET -> {
                code.aload(CPU_SLOT);
                pop(size);
                code.invokevirtual(CPU, TARGET.name(), TARGET.type()).lstore(next);
            }
            case Insn.PUSH -> {
                getReg(in.reg, size);
                code.lstore(tmp2);
                push(tmp2, size);
                stopCheck(k);
            }
            case Insn.POP -> {
                pop(size);
                setReg(in.reg, size);
            }
            case Insn.LEA -> {
                ea(in, false);
                code.lload(ea);
                setReg(in.reg, size);
            }
            case Insn.MOVZX -> {
                loadRm(in, in.sub);
                setReg(in.reg, size);
            }
            case Insn.MOVSX -> {
                loadRm(in, in.sub);
                signExtend(in.sub);
                setReg(in.reg, size);
            }
            case Insn.IMUL -> {
                if (in.hasImm) {
                    loadRm(in, size);
                    signExtend(size);
                    code.loadConstant(in.imm);
                } else {
                    getReg(in.reg, size);
                    signExtend(size);
                    loadRm(in, size);
                    signExtend(size);
                }
                if (deadFlags[k]) {
                    code.lmul(); // CF and OF unseen: the low half alone
                    mask(size);
                } else {
                    code.lstore(tmp2).lstore(tmp).aload(CPU_SLOT).lload(tmp).lload(tmp2).loadConstant(size)
                            .invokevirtual(CPU, IMUL_FAST.name(), IMUL_FAST.type());
                }
                setReg(in.reg, size);
            }
            case Insn.SHIFT -> {
                loadRm(in, size);
                if (deadFlags[k] && plainShift(in)) {
                    storeRm(in, size, k);
                    return;
                }
                code.lstore(tmp2).aload(CPU_SLOT).loadConstant(in.sub).lload(tmp2);
                if (in.hasImm) {
                    code.loadConstant((int) in.imm);
                } else {
                    code.aload(REGS).loadConstant(X86Vcpu.RCX).laload().l2i().loadConstant(0xff).iand();
                }
                code.loadConstant(size).invokevirtual(CPU, SHIFT_FAST.name(), SHIFT_FAST.type());
                storeRm(in, size, k);
            }
            case Insn.SETCC -> {
                if (in.rm < 0) {
                    ea(in, true);
                }
                cond(in.sub);
                code.i2l();
                storeRm(in, 1, k);
            }
            case Insn.CMOVCC -> { // as Alu.cmov: the source is read either way, a 4-byte destination zero-extended either way
                loadRm(in, size);
                code.lstore(tmp2);
                Label notTaken = code.newLabel();
                Label after = code.newLabel();
                cond(in.sub);
                code.ifeq(notTaken);
                code.lload(tmp2);
                setReg(in.reg, size);
                code.goto_(after);
                code.labelBinding(notTaken);
                if (size == 4) {
                    getReg(in.reg, 4);
                    setReg(in.reg, 4);
                }
                code.labelBinding(after);
            }
            case Insn.NOP -> { }
            case Insn.INC_DEC -> {
                loadRm(in, size);
                if (deadFlags[k]) {
                    code.loadConstant(in.sub == 0 ? 1L : -1L).ladd();
                    mask(size);
                    storeRm(in, size, k);
                    return;
                }
                code.lstore(tmp2).aload(CPU_SLOT).loadConstant(in.sub).lload(tmp2).loadConstant(size)
                        .invokevirtual(CPU, INC_DEC_FAST.name(), INC_DEC_FAST.type());
                storeRm(in, size, k);
            }
            case Insn.JMP_IND -> {
                loadRm(in, size);
                code.lstore(tmp2).aload(CPU_SLOT).lload(tmp2).invokevirtual(CPU, TARGET.name(), TARGET.type()).lstore(next);
            }
            case Insn.CALL_IND -> {
                loadRm(in, size);
                code.lstore(tmp2);
                push(next, size);
                code.aload(CPU_SLOT).lload(tmp2).invokevirtual(CPU, TARGET.name(), TARGET.type()).lstore(next);
                stopCheck(k);
            }
            case Insn.CONVERT -> code.aload(CPU_SLOT).loadConstant(in.sub).loadConstant(size).invokevirtual(CPU, CONVERT.name(), CONVERT.type());
            case Insn.GROUP3 -> {
                loadRm(in, size);
                code.lstore(tmp2).aload(CPU_SLOT).loadConstant(in.sub).lload(tmp2).loadConstant(size)
                        .invokevirtual(CPU, GROUP3_FAST.name(), GROUP3_FAST.type());
                if (in.sub <= 3) {
                    storeRm(in, size, k);
                } else {
                    code.pop2();
                }
            }
            case Insn.BSWAP -> {
                getReg(in.rm, size);
                code.loadConstant(size).invokestatic(BSWAP.owner(), BSWAP.name(), BSWAP.type());
                setReg(in.rm, size);
            }
            case Insn.BIT_SCAN -> {
                loadRm(in, size);
                code.lstore(tmp2).aload(CPU_SLOT).loadConstant(in.sub).loadConstant(in.reg).lload(tmp2).loadConstant(size)
                        .invokevirtual(CPU, BIT_SCAN.name(), BIT_SCAN.type());
            }
            case Insn.GENERIC -> { // a form run by its op (BlockCompiler.blockOp), which may write memory
                Label on = code.newLabel();
                code.aload(CPU_SLOT).loadConstant(k).invokevirtual(CPU, BLOCK_OP.name(), BLOCK_OP.type()).ifne(on);
                code.aload(CPU_SLOT).getfield(CPU, RIP_FIELD.name(), RIP_FIELD.type()).lreturn(); // pos is k already
                code.labelBinding(on);
                stopCheck(k);
            }
            default -> throw new IllegalArgumentException("kind " + in.kind);
        }
    }

    /**
     * With the value on the stack, emits a shift by an immediate count whose flags are unseen as
     * plain JVM arithmetic (the result is {@link Alu#shift}'s) and returns true; false (nothing
     * emitted) for forms that stay with shiftFast: a count in CL, RCL/RCR, rotates of bytes and words.
     */
    private boolean plainShift(Insn in) {
        int size = in.size;
        int bits = size * 8;
        int count = (int) in.imm & (size == 8 ? 63 : 31);
        if (!in.hasImm || count == 0) {
            return false;
        }
        switch (in.sub) {
            case 0, 1 -> { // ROL, ROR
                if (size == 8) {
                    code.loadConstant(in.sub == 0 ? count : 64 - count);
                    code.invokestatic(ConstantDescs.CD_Long, "rotateLeft", java.lang.constant.MethodTypeDesc.of(
                            ConstantDescs.CD_long, ConstantDescs.CD_long, ConstantDescs.CD_int));
                } else if (size == 4) {
                    code.l2i().loadConstant((in.sub == 0 ? count : 32 - count) & 31);
                    code.invokestatic(ConstantDescs.CD_Integer, "rotateLeft", java.lang.constant.MethodTypeDesc.of(
                            ConstantDescs.CD_int, ConstantDescs.CD_int, ConstantDescs.CD_int));
                    code.i2l().loadConstant(0xffffffffL).land();
                } else {
                    return false;
                }
            }
            case 4, 6 -> { // SHL, SAL
                if (count >= bits) {
                    code.pop2().lconst_0();
                } else {
                    code.loadConstant(count).lshl();
                    mask(size);
                }
            }
            case 5 -> { // SHR: the operand is already zero-extended to its size
                if (count >= bits) {
                    code.pop2().lconst_0();
                } else {
                    code.loadConstant(count).lushr();
                }
            }
            case 7 -> { // SAR
                signExtend(size);
                code.loadConstant(Math.min(count, bits - 1)).lshr();
                mask(size);
            }
            default -> {
                return false;
            }
        }
        return true;
    }

    private void signExtend(int size) {
        switch (size) {
            case 1 -> code.l2i().i2b().i2l();
            case 2 -> code.l2i().i2s().i2l();
            case 4 -> code.l2i().i2l();
            default -> { }
        }
    }
}
