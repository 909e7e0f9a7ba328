package io.cloister.cpu.x86;

/**
 * The decoded path: instructions decoded once per physical page ({@link Insn}), run with lazy flags,
 * and hot runs of them compiled to bytecode ({@link BlockCompiler}); forms it lacks go to the
 * interpreter.
 */
abstract class DecodedPath extends Interpreter {
    // Compiled blocks (BlockCompiler): pos counts the instructions a block completed; blockStop
    // ends a block after a write that hit code or MMIO.
    // Runs of a decoded instruction before its block is compiled: in the background (BackgroundCompile),
    // the block installed at a later run; a threshold of 1 compiles at once, before the first run.
    int compileThreshold = X86Engine.COMPILE_THRESHOLD;

    // Where instructions retire, for the engine's statistics (X86Vcpu.close, cloister.x86.stats):
    // in compiled blocks, in traces (the decoded path); the rest is the interpreter's alone.
    long compiledRetired;
    long decodedRetired;
    int blocksInstalled;
    // Dispatches: block runs and traces run, whose instructions per dispatch say what each dispatch's fixed cost is spread over.
    long blockRuns;
    long tracesRun;
    // Native block runs that returned before their first instruction (its access missed the fast tables).
    long nativeMisses;
    // Back edges a compiled block took inside itself (BlockCompiler: a taken branch back to one of its instructions).
    long loopsRun;

    /** The most dispatches (a compiled block or a trace) one stepDecoded runs: the vCPU loop's own checks come at least this often. */
    static final int CHAIN = 16;

    /**
     * Instructions through the decoded-instruction cache, forms it lacks in step(): a compiled block
     * or a trace, then the ones that follow while nothing is due at the boundary between them (an
     * interrupt, a timer deadline, an exit, a write that hit code or MMIO, code the decoded path does
     * not run), at most {@link #CHAIN} of them: what the vCPU loop would do for each, without its
     * round trip. A fault leaves the vCPU at the instruction that raised it, as for one dispatch.
     */
    void stepDecoded() {
        for (int n = 1; dispatch() && n < CHAIN && !blockStop && pendingExit == null && decodable() && !boundaryDue(); n++) {
            // on to the next dispatch
        }
    }

    /** One compiled block, trace or instruction; false when it was the interpreter's or a shadowed one (the vCPU loop looks next). */
    private boolean dispatch() {
        long lin = code64 ? rip : rip & 0xffffffffL;
        Insn last = lastHead;
        if (last != null && last.nextGen == codeGen) {
            Insn in = last.nextLin0 == lin ? last.next0 : last.nextLin1 == lin ? last.next1 : null;
            if (in != null && in.code64 == code64 && retired != shadowRetired && runLinked(in)) {
                return true;
            }
        }
        Insn[] page = codePage;
        if ((lin & ~0xfffL) != codePageLin) {
            page = enterCodePage(lin);
            if (page == null) {
                materialize();
                step(); // code outside RAM (ROM, MMIO): never cached
                return false;
            }
        }
        int off = (int) (lin & 0xfff);
        Insn in = entry(page, off);
        if (last != null) {
            link(last, lin, in);
        }
        lastHead = in;
        if (retired == shadowRetired) {
            execDecoded(in); // the one instruction an STI or MOV SS shadow covers: interrupts are looked at after it
            return false;
        }
        Block b = in.block;
        if (b != null) {
            runBlock(b, LOOP_MAX);
            return true;
        }
        BackgroundCompile c = in.compiling;
        if (c != null) {
            if (c.done()) {
                in.compiling = null;
                markCode(off, c.length()); // first: a write from here on drops the block
                b = c.install();
                if (b != null) {
                    in.block = b;
                    blocksInstalled++;
                    runBlock(b, LOOP_MAX);
                    return true;
                }
                in.heat = 0; // the code changed meanwhile: again after another threshold
            }
        } else if (++in.heat == threshold(in) && BlockCompiler.inBlock(in)) {
            if (compileThreshold > 1) {
                in.compiling = BackgroundCompile.submit(ram, codePagePhys | off, code64, blockDomain());
                if (in.compiling == null) {
                    in.heat = 0; // the compiler's queue is full
                }
            } else { // tests: every block compiled before its first run
                b = BlockCompiler.compile(ram, codePagePhys | off, code64, BlockCompiler.MAX);
                if (b != null) {
                    in.block = b;
                    blocksInstalled++;
                    markCode(off, b.length());
                    runBlock(b, LOOP_MAX);
                    return true;
                }
            }
        }
        Ops.Op t = in.trace;
        if (t == null) {
            t = trace(page, off, in);
            in.trace = t;
        }
        runTrace(t);
        return true;
    }

    /**
     * The entry the previous dispatch started from, whose successor links (Insn.next0/next1) the
     * next dispatch looks at first. A link names the entry that the page lookup gave for a linear
     * address at a codeGen: while that is unchanged (no TLB flush, privilege change or dropped
     * entries since), the lookup would give the same entry, so the link can stand in for it.
     */
    private Insn lastHead;

    /** Records that {@code in} is the entry at {@code lin}, as the latest of {@code last}'s two successor links. */
    private void link(Insn last, long lin, Insn in) {
        if (last.next0 == in && last.nextLin0 == lin && last.nextGen == codeGen) {
            return; // linked already (the linked dispatch left this one to the lookup)
        }
        if (last.nextGen != codeGen) {
            last.nextGen = codeGen;
            last.next1 = null;
        } else {
            last.next1 = last.next0;
            last.nextLin1 = last.nextLin0;
        }
        last.next0 = in;
        last.nextLin0 = lin;
    }

    /**
     * A dispatch from a linked entry, when it needs nothing of the page lookup: its compiled block,
     * or its trace below the compile threshold with no compile under way. False leaves the rest to
     * the lookup (the link is then recorded again, which is harmless).
     */
    private boolean runLinked(Insn in) {
        Block b = in.block;
        if (b != null) {
            lastHead = in;
            runBlock(b, LOOP_MAX);
            return true;
        }
        Ops.Op t = in.trace;
        if (t == null || in.compiling != null || in.heat + 1 == threshold(in)) {
            return false;
        }
        in.heat++;
        lastHead = in;
        runTrace(t);
        return true;
    }

    /**
     * The runs after which the region at {@code in} is compiled: {@link X86Engine#NATIVE_THRESHOLD}
     * when native code takes its first instruction (a native block costs no class and no JIT work,
     * so it pays off much sooner than a bytecode one), else compileThreshold. A compileThreshold
     * below it (tests compiling at once) or of Integer.MAX_VALUE (tests running traces only) stands.
     */
    int threshold(Insn in) {
        int t = compileThreshold;
        return t > X86Engine.NATIVE_THRESHOLD && t != Integer.MAX_VALUE && NativeBlockCompiler.enabled && NativeForms.supported(in)
                && NativeCode.room() ? X86Engine.NATIVE_THRESHOLD : t;
    }

    /** The longest trace: about a compiled block's length, so interrupts and timers are looked at as often. */
    static final int TRACE_MAX = BlockCompiler.MAX;

    /**
     * Makes the trace one dispatch runs from {@code first} at {@code off} and returns its first op:
     * the ops of the entries straight on through the page, each linked to the next
     * ({@link Ops.Op#follow}), until an unconditional control transfer or a form left to the
     * interpreter without an op of its own (each included, as the last), the page's end or {@link #TRACE_MAX} entries. A
     * taken conditional branch leaves it early. Entries are decoded here, once, as stepDecoded's are.
     */
    private Ops.Op trace(Insn[] page, int off, Insn first) {
        Ops.Op prev = null;
        int n = 0;
        Insn in = first;
        while (true) {
            Ops.Op op = in.op;
            if (op == null) {
                op = Ops.of(in);
                in.op = op;
            }
            if (prev != null) {
                prev.follow = op; // always the op of the entry that follows: links agree whichever trace makes them
            }
            prev = op;
            n++;
            off += in.len;
            if (in.kind == Insn.GENERIC && op instanceof Ops.Slow || BlockCompiler.ends(in) || n == TRACE_MAX || off >= 4096) {
                break;
            }
            in = entry(page, off);
        }
        return first.op;
    }

    /** The code page's decoded entry at {@code off}, decoded (and its bytes marked as code) if it has none for this mode. */
    private Insn entry(Insn[] page, int off) {
        Insn in = page[off];
        if (in == null || in.code64 != code64) {
            if (in != null) {
                // Decoded for the other code mode: the page starts afresh, so that no entry of it
                // links (Ops.Op.follow) to an op of the other mode. Rare: a mode switch inside a page.
                java.util.Arrays.fill(page, null);
                codeGen++;
                jumpGen++;
            }
            in = Insn.decode(ram, codePagePhys | off, code64);
            page[off] = in;
            markCode(off, in.len);
        }
        return in;
    }

    /**
     * Runs a trace: each op completes its instruction (rip and the count advance) and then runs the
     * next (Ops.Op.done), so a fault leaves the vCPU exactly at the instruction that raised it. It
     * stops after a write that hit code or MMIO (blockStop: the entries may be stale, or an exit is
     * pending), where control left the straight line (a taken branch, or the last entry's
     * transfer), and after {@link #TRACE_MAX} ops.
     */
    private void runTrace(Ops.Op t) {
        blockStop = false;
        traceLeft = TRACE_MAX;
        long before = retired;
        tracesRun++;
        t.exec(this); // and the ops it links to (Ops.Op.done); a fault leaves them uncounted here (the interpreter's share)
        decodedRetired += retired - before;
    }

    /** Ops a trace may still run (Ops.Op.done): at most {@link #TRACE_MAX} per dispatch, however far the ops are linked. */
    int traceLeft;

    /** With whom this vCPU shares compiled blocks: every vCPU of the process, or only the VM's own (BlockCache.PER_VM). */
    private Object blockDomain() {
        return BlockCache.PER_VM ? codeMap.blockDomain : BlockCache.SHARED;
    }

    /** Writes into these bytes drop the page's entries and blocks (a write never spans pages here). */
    private void markCode(int off, int len) {
        if (len > 0) {
            long pfn = codePagePhys >>> 12;
            if (codeMap.bitsPlain(pfn) == 0) {
                codeMarked(pfn); // the page's first code: stores there must see it
            }
            codeMap.mark(pfn, CodeMap.bits(off, len));
        }
    }

    /** Runs a compiled block, going round its loop (if it has one) at most {@code loops} times. */
    private void runBlock(Block b, int loops) {
        blockStop = false;
        pos = 0;
        loopLeft = loops;
        currentBlock = b;
        blockRip = rip;
        long next = b.run((X86Vcpu) this, r, rip); // the only subclass
        currentBlock = null;
        retired += pos;
        compiledRetired += pos;
        blockRuns++;
        rip = next;
        if (pos == 0 && next == blockRip && b instanceof NativeBlock) {
            // A native block returns before an access the fast tables cannot take (MMIO, a page
            // not yet in them, code): its first instruction runs here instead, or it would again.
            nativeMisses++;
            materialize();
            step();
        }
    }

    /** Whether the vCPU loop has something to do at this instruction boundary before the next instruction (an interrupt, a timer). */
    abstract boolean boundaryDue();

    /** Whether the vCPU loop's own checks are asked for by another thread (an exit, a TLB or code flush, code written by another vCPU). */
    abstract boolean requestDue();

    /**
     * The most times one block run goes round its loop: the vCPU loop's other checks (RAM map
     * changes, the rip sampler) still come within a bounded number of instructions.
     */
    static final int LOOP_MAX = 1024;

    /** Back edges the running block may still take (runBlock sets it). */
    int loopLeft;

    /**
     * A compiled block's back edge: a taken branch to one of its own instructions, {@code n}
     * counting the instructions since that one (the first time, since the block's start less the
     * ones before it, which pos counts again at the block's return or fault).
     * True when the block runs its body again, having counted the n instructions; false when it
     * returns instead (its pos counts them), as it would without the loop: something due at this
     * boundary (an interrupt, a timer deadline, another thread's request) or the loop's budget
     * spent. Either way the vCPU's state is what a return to the dispatcher and a new run of the
     * block would see, so the loop is invisible to the guest.
     */
    final boolean loopBack(int n) {
        retired += n; // first: the timer deadline is compared with the count after this instruction
        if (--loopLeft > 0 && !blockStop && pendingExit == null && !boundaryDue() && !requestDue()) {
            compiledRetired += n;
            loopsRun++;
            return true;
        }
        retired -= n;
        return false;
    }

    /**
     * A compiled block's instruction {@code k} (pos, stored before it) that runs through its op
     * (Block.ops): the op sees what a trace would give it, rip at the instruction (its
     * RIP-relative operand, the rip it completes to), and completes it; the block's rip and count
     * then stand as before, pos counting it at the block's end, and true is returned. The op is
     * the block's own, linked to none after it, so it runs this instruction alone. False when the
     * instruction did not go on to the next (a REP string form stopped at itself for an exit):
     * the block returns there (BlockEmitter), rip and the count as the interpreter left them and
     * pos the instructions before it. A fault leaves the block as any fault inside one does
     * (unwindBlock: rip and the count from pos).
     */
    final boolean blockOp(int k) {
        Block b = currentBlock;
        Ops.Op op = b.ops[k];
        rip = blockAddress(b.offsets[k]);
        op.exec(this);
        if (rip != blockAddress(b.offsets[k] + op.len)) {
            return false;
        }
        retired--;
        rip = blockRip;
        return true;
    }

    /**
     * A compiled block's taken branch forward to one of its own instructions, over {@code n} that
     * do not run: pos, an index from the block's start, will count them at the block's return or
     * fault, so they come off the count now.
     */
    final void skip(int n) {
        retired -= n;
        compiledRetired -= n;
    }

    /** Whether the code at rip runs here: real mode, 16-bit code (also in compatibility mode) and segmented code are the interpreter's only. */
    boolean decodable() {
        return decodedCache && !legacy && !code16;
    }

    /** A fault or exit inside a block: rip and the count resume at the instruction that did not complete. */
    void unwindBlock() {
        Block b = currentBlock;
        if (b != null) {
            currentBlock = null;
            rip = blockAddress(b.offsets[pos]);
            retired += pos;
            compiledRetired += pos;
        }
    }

    /** For tests: compiles up to {@code max} instructions at rip (paging off) and runs them once as a block (a branch back into it returns). */
    void stepCompiledUncached(int max) {
        Block b = BlockCompiler.compileStraight(ram, rip, code64, max);
        if (b == null) {
            materialize(); // as execDecoded does before the interpreter runs a form blocks leave to it
            step();
            return;
        }
        long before = retired;
        try {
            runBlock(b, 1); // once through: the instructions asked for, no more
        } catch (Fault | Retry e) {
            unwindBlock(); // as run() does
            throw e;
        }
        // A native block returns before a form it lacks or an access the fast tables cannot take
        // (here, with paging off, every access): the rest as the dispatcher would run them.
        int done = (int) (retired - before);
        boolean straightOn = b instanceof NativeBlock && done < b.offsets.length && rip == blockAddress(b.offsets[done]);
        while (straightOn && retired - before < max && pendingExit == null && !blockStop) {
            materialize();
            step();
        }
    }

    private Insn[] enterCodePage(long lin) {
        long pa = translate(lin, FETCH);
        if (pa < 0 || (pa | 0xfff) >= ramSize) {
            return null;
        }
        Insn[] page = codePages.page(pa >>> 12);
        if (page == null) {
            return null;
        }
        codePage = page;
        codePageLin = lin & ~0xfffL;
        codePagePhys = pa & ~0xfffL;
        return page;
    }

    /** For tests: decodes the instruction at rip afresh (paging off) and runs it decoded, as a trace would; flags may stay lazy. */
    void stepDecodedUncached() {
        Ops.of(Insn.decode(ram, rip, code64)).exec(this);
    }

    /** The general switch: the decoded forms without an {@link Ops} shape of their own; the rest to the interpreter. */
    void execDecoded(Insn in) {
        long next = rip + in.len;
        int size = in.size;
        rexPresent = in.rex;
        switch (in.kind) {
            case Insn.MOV_STORE -> storeRm(in, size, getReg(in.reg, size), next);
            case Insn.MOV_LOAD -> setReg(in.reg, size, loadRm(in, size, next));
            case Insn.MOV_IMM -> storeRm(in, size, in.imm, next);
            case Insn.ALU_RM_R -> {
                if (in.rm >= 0) {
                    long res = aluFast(in.sub, getReg(in.rm, size), getReg(in.reg, size), size);
                    if (in.sub != 7) {
                        setReg(in.rm, size, res);
                    }
                } else {
                    long ea = in.ea(r, next, segBase(in.seg));
                    long res = aluFast(in.sub, rd(ea, size), getReg(in.reg, size), size);
                    if (in.sub != 7) {
                        wr(ea, size, res);
                    }
                }
            }
            case Insn.ALU_R_RM -> {
                long res = aluFast(in.sub, getReg(in.reg, size), loadRm(in, size, next), size);
                if (in.sub != 7) {
                    setReg(in.reg, size, res);
                }
            }
            case Insn.ALU_RM_IMM -> {
                if (in.rm >= 0) {
                    long res = aluFast(in.sub, getReg(in.rm, size), in.imm, size);
                    if (in.sub != 7) {
                        setReg(in.rm, size, res);
                    }
                } else {
                    long ea = in.ea(r, next, segBase(in.seg));
                    long res = aluFast(in.sub, rd(ea, size), in.imm, size);
                    if (in.sub != 7) {
                        wr(ea, size, res);
                    }
                }
            }
            case Insn.TEST_RM_R -> aluFast(4, loadRm(in, size, next), getReg(in.reg, size), size);
            case Insn.TEST_RM_IMM -> aluFast(4, loadRm(in, size, next), in.imm, size);
            case Insn.JCC -> {
                if (condFast(in.sub)) {
                    next = target(next + in.imm);
                }
            }
            case Insn.JMP -> next = target(next + in.imm);
            case Insn.CALL -> {
                push(next, size);
                next = target(next + in.imm);
            }
            case Insn.RET -> next = target(pop(size));
            case Insn.PUSH -> push(getReg(in.reg, size), size);
            case Insn.POP -> {
                long v = pop(size);
                setReg(in.reg, size, v);
            }
            case Insn.LEA -> setReg(in.reg, size, in.ea(r, next, 0));
            case Insn.MOVZX -> setReg(in.reg, size, loadRm(in, in.sub, next));
            case Insn.MOVSX -> setReg(in.reg, size, Flags.sext(loadRm(in, in.sub, next), in.sub));
            case Insn.IMUL -> {
                long a;
                long b;
                if (in.hasImm) {
                    a = Flags.sext(loadRm(in, size, next), size);
                    b = in.imm;
                } else {
                    a = Flags.sext(getReg(in.reg, size), size);
                    b = Flags.sext(loadRm(in, size, next), size);
                }
                setReg(in.reg, size, imulFast(a, b, size));
            }
            case Insn.SHIFT -> {
                int count = in.hasImm ? (int) in.imm : (int) (r[RCX] & 0xff);
                if (in.rm >= 0) {
                    setReg(in.rm, size, shiftFast(in.sub, getReg(in.rm, size), count, size));
                } else {
                    long ea = in.ea(r, next, segBase(in.seg));
                    long res = shiftFast(in.sub, rd(ea, size), count, size);
                    wr(ea, size, res);
                }
            }
            case Insn.SETCC -> storeRm(in, 1, condFast(in.sub) ? 1 : 0, next);
            case Insn.CMOVCC -> {
                long v = loadRm(in, size, next);
                cmov(condFast(in.sub), in.reg, size, v);
            }
            case Insn.NOP -> { }
            case Insn.INC_DEC -> {
                if (in.rm >= 0) {
                    setReg(in.rm, size, incDecFast(in.sub, getReg(in.rm, size), size));
                } else {
                    long ea = in.ea(r, next, segBase(in.seg));
                    long res = incDecFast(in.sub, rd(ea, size), size);
                    wr(ea, size, res);
                }
            }
            case Insn.JMP_IND -> next = target(loadRm(in, size, next));
            case Insn.CALL_IND -> {
                long t = loadRm(in, size, next);
                push(next, size);
                next = target(t);
            }
            case Insn.CONVERT -> convert(in.sub, size);
            case Insn.GROUP3 -> {
                if (in.rm >= 0) {
                    long res = group3Fast(in.sub, getReg(in.rm, size), size);
                    if (in.sub <= 3) {
                        setReg(in.rm, size, res);
                    }
                } else {
                    long ea = in.ea(r, next, segBase(in.seg));
                    long res = group3Fast(in.sub, rd(ea, size), size);
                    if (in.sub <= 3) {
                        wr(ea, size, res);
                    }
                }
            }
            case Insn.BSWAP -> setReg(in.rm, size, bswap(getReg(in.rm, size), size));
            case Insn.BIT_SCAN -> bitScan(in.sub, in.reg, loadRm(in, size, next), size);
            default -> {
                materialize();
                if (in.shape == null || code16) {
                    step(); // crosses its page; or 16-bit code, which the entries are not decoded for
                } else {
                    ip = rip + in.len;
                    run(in.shape); // the interpreter's half of the same decoded instruction
                }
                return;
            }
        }
        retired++;
        rip = next;
    }

    private long loadRm(Insn in, int size, long next) {
        return in.rm >= 0 ? getReg(in.rm, size) : rd(in.ea(r, next, segBase(in.seg)), size);
    }

    private void storeRm(Insn in, int size, long v, long next) {
        if (in.rm >= 0) {
            setReg(in.rm, size, v);
        } else {
            wr(in.ea(r, next, segBase(in.seg)), size, v);
        }
    }

    DecodedPath(Wiring w) {
        super(w);
    }
}
