package io.cloister.cpu.x86;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.classfile.TypeKind;
import java.util.List;

/**
 * The guest registers a compiled block names, each in a long local of its own for the length of
 * the block ({@link BlockEmitter}): loaded from the register array at the entry, written back to it
 * at every way out (the one exit, {@link #exit}, and a fault handler) and around each helper that
 * reads or writes the array itself ({@link #aroundArrayUser}). The locals hold at every point what
 * the array would hold there without them, so every way out leaves the array as before. In locals
 * the JIT keeps them in host registers: no bounds check and memory access per operand, and C2
 * sees a value flow across the calls and loops of the block.
 */
final class RegisterLocals {
    private final CodeBuilder code;
    private final int array;
    /** Per register, its local; -1 where the block does not name it (read and written in the array). */
    private final int[] local = new int[16];
    /** The held registers some instruction of the block writes: what the exit and the fault handler write back. */
    private final boolean[] written = new boolean[16];
    /** Where every way out of the block goes, with the rip to return in a long local ({@link #exitAndFaultHandler}). */
    final Label exit;
    /** The handler of a fault (an exception) inside the block: the written registers back, the exception thrown on. */
    private final Label faulted;
    /** Whether any register is held: else the block has neither fault handler nor write-backs. */
    private boolean held;
    /** The start of the code the fault handler covers since the last helper that uses the register array. */
    private Label covered;

    /**
     * Gives each register the block's instructions name a local, loaded from the array (local
     * {@code array}) here, at the block's entry: every register field (and the AH..BH homes), RSP
     * for the stack forms, RCX for shifts by CL. One missed would only stay in the array ({@link #get}
     * and {@link #set} fall back to it); one named but unused costs a load at the entry.
     */
    RegisterLocals(CodeBuilder code, int array, List<Insn> insns) {
        this.code = code;
        this.array = array;
        boolean[] named = new boolean[16];
        for (Insn in : insns) {
            for (int r : new int[] {in.rm, in.reg, in.base, in.index}) {
                if (r >= 0 && r < 16) {
                    named[r] = true;
                    named[r < 8 ? r & 3 : r] = true; // AH..BH live in RAX..RBX
                }
            }
            switch (in.kind) {
                case Insn.PUSH, Insn.POP, Insn.CALL, Insn.RET, Insn.CALL_IND -> named[X86Vcpu.RSP] = true;
                case Insn.SHIFT -> named[X86Vcpu.RCX] = true;
                default -> { }
            }
        }
        for (int r = 0; r < 16; r++) {
            local[r] = -1;
            if (named[r]) {
                local[r] = code.allocateLocal(TypeKind.LONG);
                held = true;
                code.aload(array).loadConstant(r).laload().lstore(local[r]);
            }
        }
        exit = code.newLabel();
        faulted = code.newLabel();
        covered = code.newBoundLabel();
    }

    /** Pushes register {@code r}'s whole 64 bits: its local if held, else the array's element. */
    void get(int r) {
        if (local[r] >= 0) {
            code.lload(local[r]);
        } else {
            code.aload(array).loadConstant(r).laload();
        }
    }

    /** Stores the long on the stack as register {@code r}'s whole 64 bits. */
    void set(int r) {
        if (local[r] >= 0) {
            code.lstore(local[r]);
            written[r] = true;
        } else { // value -> array, r, value
            code.aload(array).dup_x2().pop().loadConstant(r).dup_x2().pop().lastore();
        }
    }

    /**
     * Emits a call of a helper that reads or writes the register array itself (Memory.push and pop
     * outside 64-bit code, CONVERT, MUL and DIV, the bit scans, a form run by its op): every held
     * register goes to the array before it and comes back after (a result the call leaves on the
     * stack stays there). The fault handler does not cover the call: a fault inside it leaves the
     * array as the helper did (a REP string form stopped part way), which the locals would overwrite.
     */
    void aroundArrayUser(Runnable call) {
        if (!held) {
            call.run();
            return;
        }
        code.exceptionCatchAll(covered, code.newBoundLabel(), faulted);
        for (int r = 0; r < 16; r++) {
            if (local[r] >= 0) {
                code.aload(array).loadConstant(r).lload(local[r]).lastore();
            }
        }
        call.run();
        for (int r = 0; r < 16; r++) {
            if (local[r] >= 0) {
                code.aload(array).loadConstant(r).laload().lstore(local[r]);
            }
        }
        covered = code.newBoundLabel();
    }

    /**
     * Emits, after the block's last instruction, the exit (the written registers back, then the rip
     * in long local {@code next} returned) and the fault handler (the written registers back, the
     * exception thrown on), which covers the block but for its calls of {@link #aroundArrayUser}.
     * Written is known only now: a loop's back edge may lead to an exit emitted before a write.
     */
    void exitAndFaultHandler(int next) {
        if (!held) {
            code.labelBinding(exit);
            code.lload(next).lreturn();
            return;
        }
        code.exceptionCatchAll(covered, exit, faulted);
        code.labelBinding(exit);
        writeBack();
        code.lload(next).lreturn();
        code.labelBinding(faulted); // the exception on the stack
        writeBack();
        code.athrow();
    }

    private void writeBack() {
        for (int r = 0; r < 16; r++) {
            if (local[r] >= 0 && written[r]) {
                code.aload(array).loadConstant(r).lload(local[r]).lastore();
            }
        }
    }
}
