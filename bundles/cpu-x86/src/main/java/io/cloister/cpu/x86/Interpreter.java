package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Flags.AF;
import static io.cloister.cpu.x86.Flags.CF;
import static io.cloister.cpu.x86.Flags.DF;
import static io.cloister.cpu.x86.Flags.IF;
import static io.cloister.cpu.x86.Flags.PF;
import static io.cloister.cpu.x86.Flags.SF;
import static io.cloister.cpu.x86.Flags.TF;
import static io.cloister.cpu.x86.Flags.ZF;

import io.cloister.api.cpu.Exit;

/**
 * The interpreter: an instruction decoded by the one {@link Decoder} (from guest memory here, or
 * cached by the decoded path), then run, every form the engine implements. The reference the
 * other paths are checked against (and the host CPU checks it).
 */
abstract class Interpreter extends SseInsns {
    /** Decodes the instruction at rip and runs it. */
    void step() {
        ip = rip;
        Fetcher f = fetcher;
        f.fetchAndDecode(); // the whole instruction is fetched before any of it runs
        run(f);
    }

    /** Runs a decoded instruction; {@link #ip} is its end. */
    void run(Decoder dec) {
        this.dec = dec;
        lockedPa = -1;
        rexPresent = dec.rexPresent;
        atomic = dec.lock;
        long opIp = ip;
        long flagsBefore = rflags;
        int accessMark = accesses.mark();
        while (true) {
            try {
                if (dec.undefined) {
                    throw ud();
                }
                switch (dec.map) {
                    case Decoder.MAP_ONE -> execute(dec.op);
                    case Decoder.MAP_0F -> twoByte(dec.op);
                    default -> throw ud(); // 0F38, 0F3A: SSSE3 and later, not advertised
                }
                break;
            } catch (Restart again) {
                // Another vCPU changed the locked operand between our read and write.
                ip = opIp;
                rflags = flagsBefore;
                lockedPa = -1;
                atomic = dec.lock;
                accesses.rewindTo(accessMark);
            }
        }
        atomic = false;
        retired++;
        rip = ip;
    }

    private void execute(int op) {
        int size = dec.opsize;
        if (op < 0x40 && (op & 7) < 6) {
            int aluOp = op >>> 3;
            int s = (op & 1) == 0 ? 1 : size;
            switch (op & 7) {
                case 0, 1 -> {
                    modrm();
                    long res = alu(aluOp, rm(s), getReg(modReg, s), s);
                    if (aluOp != 7) {
                        setRm(s, res);
                    }
                }
                case 2, 3 -> {
                    modrm();
                    long res = alu(aluOp, getReg(modReg, s), rm(s), s);
                    if (aluOp != 7) {
                        setReg(modReg, s, res);
                    }
                }
                default -> {
                    long b = imm() & Flags.mask(s);
                    long res = alu(aluOp, getReg(RAX, s), b, s);
                    if (aluOp != 7) {
                        setReg(RAX, s, res);
                    }
                }
            }
            return;
        }
        switch (op) {
            case 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f -> {
                // inc/dec r32 (only outside 64-bit mode, where these bytes are REX prefixes)
                modIsReg = true;
                modRm = op & 7;
                incDec(op < 0x48 ? 0 : 1, size);
            }
            case 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57 -> {
                int s = stackSize();
                spush(getReg((op & 7) | (dec.rexB << 3), s), s);
            }
            case 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f -> {
                int s = stackSize();
                long v = spop(s);
                setReg((op & 7) | (dec.rexB << 3), s, v);
            }
            case 0x06, 0x0e, 0x16, 0x1e -> { // push es, cs, ss, ds
                notIn64();
                int reg = op >>> 3;
                spush(reg == 1 ? csSelector() : sreg[reg], stackSize());
            }
            case 0x07, 0x17, 0x1f -> { // pop es, ss, ds
                notIn64();
                int s = stackSize();
                long sp = r[RSP];
                long v = spop(s);
                try {
                    loadSegment(op >>> 3, (int) v & 0xffff);
                } catch (Fault f) {
                    r[RSP] = sp;
                    throw f;
                }
                if (op == 0x17) {
                    shadowRetired = retired + 1; // as MOV SS
                }
            }
            case 0x60 -> { // pusha
                notIn64();
                int s = dec.opsize;
                long sp = r[RSP];
                for (int i = 0; i < 8; i++) {
                    spush(i == RSP ? sp : r[i], s);
                }
            }
            case 0x61 -> { // popa: the saved SP is skipped
                notIn64();
                int s = dec.opsize;
                for (int i = 7; i >= 0; i--) {
                    long v = spop(s);
                    if (i != RSP) {
                        setReg(i, s, v);
                    }
                }
            }
            case 0x63 -> { // movsxd
                modrm();
                long v = Flags.sext(rm(4), 4);
                setReg(modReg, size, v);
            }
            case 0x68 -> spush(imm(), stackSize());
            case 0x6a -> spush(imm(), stackSize());
            case 0x69, 0x6b -> {
                modrm();
                long a = Flags.sext(rm(size), size);
                long b = imm();
                setReg(modReg, size, imul(a, b, size));
            }
            case 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f -> {
                long d = imm();
                if (cond(op & 0xf)) {
                    jump(ip + d);
                }
            }
            case 0x80, 0x81, 0x83 -> {
                int s = op == 0x80 ? 1 : size;
                modrm();
                long b = imm() & Flags.mask(s);
                int aluOp = modReg & 7;
                long res = alu(aluOp, rm(s), b, s);
                if (aluOp != 7) {
                    setRm(s, res);
                }
            }
            case 0x84, 0x85 -> {
                int s = op == 0x84 ? 1 : size;
                modrm();
                alu(4, rm(s), getReg(modReg, s), s);
            }
            case 0x86, 0x87 -> {
                int s = op == 0x86 ? 1 : size;
                atomic = true; // xchg with memory is always locked
                modrm();
                long a = rm(s);
                long b = getReg(modReg, s);
                setRm(s, b);
                setReg(modReg, s, a);
            }
            case 0x88, 0x89 -> {
                int s = op == 0x88 ? 1 : size;
                modrm();
                setRm(s, getReg(modReg, s));
            }
            case 0x8a, 0x8b -> {
                int s = op == 0x8a ? 1 : size;
                modrm();
                setReg(modReg, s, rm(s));
            }
            case 0x8c -> {
                modrm();
                setRm(modIsReg ? size : 2, (modReg & 7) == 1 ? csSelector() : sreg[Math.min(modReg & 7, 5)]);
            }
            case 0x8d -> {
                modrm();
                if (modIsReg) {
                    throw ud();
                }
                setReg(modReg, size, ea - eaBase);
            }
            case 0x8e -> {
                modrm();
                int reg = modReg & 7;
                if (reg == 1 || reg > 5) {
                    throw ud();
                }
                loadSegment(reg, (int) rm(2) & 0xffff);
                if (reg == 2) {
                    shadowRetired = retired + 1; // MOV SS: the next instruction (the RSP load) runs first
                }
            }
            case 0x8f -> {
                int s = stackSize();
                long v = spop(s);
                modrm();
                setRm(s, v);
            }
            case 0x90 -> {
                if (dec.rexB == 1) {
                    xchgRax(8, size); // xchg r8, rax
                }
                // nop, and pause (f3 90)
            }
            case 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97 -> xchgRax((op & 7) | (dec.rexB << 3), size);
            case 0x98, 0x99 -> convert(op - 0x98, size);
            case 0x9a -> { // call far ptr16:16 / ptr16:32 (not in 64-bit mode)
                notIn64();
                farCall((int) dec.imm2, immU());
            }
            case 0x9c -> spush(pushfImage(), stackSize());
            case 0x9d -> popf(spop(stackSize()));
            case 0x9e -> rflags = (rflags & ~(SF | ZF | AF | PF | CF)) | ((r[RAX] >>> 8) & (SF | ZF | AF | PF | CF));
            case 0x9f -> r[RAX] = (r[RAX] & ~0xff00L) | ((flags() & (SF | ZF | AF | PF | CF | 2)) << 8); // lahf
            case 0xa0, 0xa1, 0xa2, 0xa3 -> { // mov between the accumulator and an absolute address
                int s = (op & 1) == 0 ? 1 : size;
                long addr = immU() + segBase();
                if ((op & 2) == 0) {
                    setReg(RAX, s, rd(addr, s));
                } else {
                    wr(addr, s, getReg(RAX, s));
                }
            }
            case 0xa8, 0xa9 -> {
                int s = op == 0xa8 ? 1 : size;
                alu(4, getReg(RAX, s), imm() & Flags.mask(s), s);
            }
            case 0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf -> strings(op, (op & 1) == 0 ? 1 : size);
            case 0x6c, 0x6d, 0x6e, 0x6f -> strings(op, (op & 1) == 0 ? 1 : Math.min(size, 4)); // ins, outs
            case 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7 -> setReg((op & 7) | (dec.rexB << 3), 1, immU());
            case 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf -> setReg((op & 7) | (dec.rexB << 3), size, immU());
            case 0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3 -> {
                int s = (op & 1) == 0 ? 1 : size;
                modrm();
                int count = op <= 0xc1 ? (int) immU() : op <= 0xd1 ? 1 : (int) (r[RCX] & 0xff);
                setRm(s, shift(modReg & 7, rm(s), count, s));
            }
            case 0xc2 -> {
                int n = (int) immU();
                long target = spop(stackSize());
                addStackPointer(n);
                jump(target);
            }
            case 0xc3 -> jump(spop(stackSize()));
            case 0xc6, 0xc7 -> {
                int s = op == 0xc6 ? 1 : size;
                modrm();
                if ((modReg & 7) != 0) {
                    throw ud();
                }
                setRm(s, imm());
            }
            case 0xc8 -> { // enter (nesting level 0 only)
                int frame = (int) immU();
                int level = (int) dec.imm2 & 31;
                if (level != 0) {
                    throw ud();
                }
                int s = stackSize();
                spush(r[RBP], s);
                long fp = r[RSP];
                addStackPointer(-frame);
                setReg(RBP, s, fp);
            }
            case 0xc9 -> {
                int s = stackSize();
                if (legacy) {
                    setStackPointer(r[RBP]);
                } else {
                    r[RSP] = r[RBP];
                }
                setReg(RBP, s, spop(s));
            }
            case 0xca -> farReturn((int) immU());
            case 0xcb -> farReturn(0);
            case 0xcc -> softInterrupt(VEC_BP);
            case 0xcd -> softInterrupt((int) immU());
            case 0xce -> { // into
                notIn64();
                if ((rflags & Flags.OF) != 0) {
                    softInterrupt(4);
                }
            }
            case 0xcf -> iret();
            case 0xd7 -> { // xlat: al = [rbx + al]
                setReg(RAX, 1, rd(((r[RBX] + (r[RAX] & 0xff)) & addressMask()) + segBase(), 1));
            }
            case 0xe0, 0xe1, 0xe2 -> { // loopne, loope, loop: count in rCX/eCX, flags unchanged
                long d = imm();
                long count = (r[RCX] - 1) & addressMask();
                r[RCX] = dec.adsize == 2 ? (r[RCX] & ~0xffffL) | count : count; // a 32-bit count zero-extends
                if (count != 0 && (op == 0xe2 || (op == 0xe1) == ((rflags & ZF) != 0))) {
                    jump(ip + d);
                }
            }
            case 0xe3 -> { // jrcxz, jecxz (0x67)
                long d = imm();
                if ((r[RCX] & addressMask()) == 0) {
                    jump(ip + d);
                }
            }
            case 0xe4, 0xe5, 0xec, 0xed -> {
                int port = op <= 0xe5 ? (int) immU() : (int) (r[RDX] & 0xffff);
                int s = (op & 1) == 0 ? 1 : Math.min(size, 4);
                ioCheck(port, s);
                awaiting = new Awaiting.PortIn(s);
                report(new Exit.Io(port, s, false, 0));
            }
            case 0xe6, 0xe7, 0xee, 0xef -> {
                int port = op <= 0xe7 ? (int) immU() : (int) (r[RDX] & 0xffff);
                int s = (op & 1) == 0 ? 1 : Math.min(size, 4);
                ioCheck(port, s);
                report(new Exit.Io(port, s, true, getReg(RAX, s)));
            }
            case 0xe8 -> {
                long d = imm(); // rel16 with a 16-bit operand size, which pushes IP (2 bytes)
                spush(ip, stackSize());
                jump(ip + d);
            }
            case 0xe9 -> {
                long d = imm();
                jump(ip + d);
            }
            case 0xea -> { // ljmp ptr16:16 / ptr16:32 (not in 64-bit mode)
                notIn64();
                farJump((int) dec.imm2, immU());
            }
            case 0xeb -> {
                long d = imm();
                jump(ip + d);
            }
            case 0xf4 -> { // HLT: rip is past it
                privileged();
                if (apic != null && (rflags & IF) != 0 && apic.canTakeInterrupts()) {
                    halted = true; // waits at the next boundary for an interrupt
                } else {
                    report(new Exit.Halt()); // nothing maskable can end it: the vCPU stops; the VMM decides
                }
            }
            case 0xf1 -> icebp();
            case 0xf5 -> rflags ^= CF;
            case 0xf6, 0xf7 -> group3(op == 0xf6 ? 1 : size);
            case 0xf8 -> rflags &= ~CF;
            case 0xf9 -> rflags |= CF;
            case 0xfa -> cli();
            case 0xfb -> sti();
            case 0xfc -> rflags &= ~DF;
            case 0xfd -> rflags |= DF;
            case 0xfe -> {
                modrm();
                incDec(modReg & 7, 1);
            }
            case 0xff -> group5(size);
            case 0x9b -> fwait();
            case 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf -> x87(op);
            default -> throw ud();
        }
    }

    /** The one-byte forms 64-bit mode dropped (segment pushes, PUSHA, far CALL/JMP with a pointer): #UD there. */
    private void notIn64() {
        if (code64) {
            throw ud();
        }
    }

    /** CLI, STI: #GP(0) above IOPL (the virtual-interrupt extensions are not offered). */
    // PUSHF, POPF, CLI and STI, for the interpreter and the decoded path's ops (SystemOps); the
    // arithmetic flags are exact (materialized) when they run.

    /** PUSHF's image of RFLAGS: bit 1 reads as set; VM and RF are cleared. */
    final long pushfImage() {
        return flags() & 0x3c7fd7;
    }

    /** POPF of {@code v}: IF only at CPL &lt;= IOPL (else it stays), never IOPL, VM, RF or VIF/VIP here. */
    final void popf(long v) {
        long mask = Flags.ARITH | TF | DF | 0x40000L | 0x200000L | ((cs & 3) <= iopl() ? IF : 0);
        rflags = (rflags & ~mask) | (v & mask) | Flags.FIXED;
    }

    final void cli() {
        ioplCheck();
        rflags &= ~IF;
    }

    final void sti() {
        ioplCheck();
        if ((rflags & IF) == 0) {
            shadowRetired = retired + 1; // the instruction after STI runs before any interrupt
        }
        rflags |= IF;
    }

    private void ioplCheck() {
        if ((cs & 3) > iopl()) {
            throw fault(VEC_GP, 0);
        }
    }

    private void xchgRax(int reg, int size) {
        long a = getReg(RAX, size);
        setReg(RAX, size, getReg(reg, size));
        setReg(reg, size, a);
    }

    private void incDec(int which, int size) {
        long a = rm(size);
        if (which > 1) {
            throw ud();
        }
        long res = incDecFast(which, a, size);
        materialize(); // the interpreter keeps rflags exact
        setRm(size, res);
    }

    private void group5(int size) {
        modrm();
        int which = modReg & 7;
        switch (which) {
            case 0, 1 -> incDec(which, size);
            case 2 -> {
                long target = rm(code64 ? 8 : size);
                spush(ip, stackSize());
                jump(target);
            }
            case 3, 5 -> { // call far, jmp far m16:16 / m16:32 (outside 64-bit mode)
                if (modIsReg || code64) {
                    throw ud();
                }
                int s = size == 2 ? 2 : 4;
                long offset = rd(ea, s);
                int selector = (int) rd(ea + s, 2);
                if (which == 3) {
                    farCall(selector, offset);
                } else {
                    farJump(selector, offset);
                }
            }
            case 4 -> jump(rm(code64 ? 8 : size));
            case 6 -> {
                int s = stackSize();
                spush(rm(s), s);
            }
            default -> throw ud();
        }
    }

    private void group3(int size) {
        modrm();
        int which = modReg & 7;
        if (which <= 1) {
            alu(4, rm(size), imm() & Flags.mask(size), size); // TEST
            return;
        }
        long res = group3Fast(which, rm(size), size); // NOT, NEG, MUL, IMUL, DIV, IDIV as the decoded path runs them
        materialize(); // the interpreter keeps rflags exact
        if (which <= 3) {
            setRm(size, res);
        }
    }

    private void twoByte(int op) {
        int size = dec.opsize;
        switch (op) {
            case 0x00 -> group6();
            case 0x01 -> group7();
            case 0x02, 0x03 -> larLsl(op == 0x03);
            case 0x05 -> syscall();
            case 0x07 -> sysret();
            case 0x08, 0x09 -> privileged(); // INVD, WBINVD: no caches to write back or drop
            case 0x0b -> throw ud();
            case 0x0d, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f -> modrm(); // hint nops, prefetch
            case 0x20 -> {
                privileged();
                modrm();
                r[modRm] = readCr(modReg);
            }
            case 0x22 -> {
                privileged();
                modrm();
                writeCr(modReg, r[modRm]);
            }
            case 0x21 -> {
                privileged();
                modrm();
                r[modRm] = readDr(modReg);
            }
            case 0x23 -> {
                privileged();
                modrm();
                writeDr(modReg, r[modRm]);
            }
            case 0x30 -> wrmsr((int) r[RCX], (r[RDX] << 32) | (r[RAX] & 0xffffffffL));
            case 0x31 -> rdtsc();
            case 0x32 -> {
                long v = rdmsr((int) r[RCX]);
                setReg(RAX, 4, v);
                setReg(RDX, 4, v >>> 32);
            }
            case 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f -> {
                modrm();
                long v = rm(size);
                cmov(cond(op & 0xf), modReg, size, v);
            }
            case 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f -> {
                long d = imm(); // rel16 with a 16-bit operand size
                if (cond(op & 0xf)) {
                    jump(ip + d);
                }
            }
            case 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f -> {
                modrm();
                setRm(1, cond(op & 0xf) ? 1 : 0);
            }
            case 0xa2 -> cpuid();
            case 0xc7 -> group9();
            case 0xa0, 0xa8 -> spush(sreg[op == 0xa0 ? 4 : 5], stackSize()); // push fs, gs
            case 0xa1, 0xa9 -> { // pop fs, gs
                int s = stackSize();
                long sp = r[RSP];
                long v = spop(s);
                try {
                    loadSegment(op == 0xa1 ? 4 : 5, (int) v & 0xffff);
                } catch (Fault f) {
                    r[RSP] = sp;
                    throw f;
                }
            }
            case 0xa3, 0xab, 0xb3, 0xbb -> {
                modrm();
                bitOp((op >>> 3) & 3, getReg(modReg, size), size, true);
            }
            case 0xba -> {
                modrm();
                int which = modReg & 7;
                if (which < 4) {
                    throw ud();
                }
                bitOp(which - 4, immU(), size, false);
            }
            case 0xa4, 0xa5, 0xac, 0xad -> {
                modrm();
                int count = (op & 1) == 0 ? (int) immU() : (int) (r[RCX] & 0xff);
                setRm(size, doubleShift(op >= 0xac, rm(size), getReg(modReg, size), count, size));
            }
            case 0xaf -> {
                modrm();
                setReg(modReg, size, imul(Flags.sext(getReg(modReg, size), size), Flags.sext(rm(size), size), size));
            }
            case 0xb0, 0xb1 -> {
                int s = op == 0xb0 ? 1 : size;
                atomic = true;
                modrm();
                long dest = rm(s);
                long acc = getReg(RAX, s);
                alu(7, acc, dest, s);
                if ((rflags & ZF) != 0) {
                    setRm(s, getReg(modReg, s));
                } else {
                    if (!modIsReg) {
                        setRm(s, dest); // the locked cycle writes back what it read
                    }
                    setReg(RAX, s, dest);
                }
            }
            case 0xb6, 0xb7 -> {
                modrm();
                setReg(modReg, size, rm(op == 0xb6 ? 1 : 2));
            }
            case 0xbe, 0xbf -> {
                modrm();
                int s = op == 0xbe ? 1 : 2;
                setReg(modReg, size, Flags.sext(rm(s), s));
            }
            case 0xb8, 0xbc, 0xbd -> {
                if (op == 0xb8 && dec.rep != 0xf3) {
                    throw ud();
                }
                modrm();
                bitScan(bitScanForm(op, dec.rep), modReg, rm(size), size);
            }
            case 0xc0, 0xc1 -> {
                int s = op == 0xc0 ? 1 : size;
                atomic = true;
                modrm();
                long dest = rm(s);
                long src = getReg(modReg, s);
                long sum = alu(0, dest, src, s);
                setRm(s, sum); // first: a fault or a lost race must leave the register as it was
                setReg(modReg, s, dest);
            }
            case 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf -> {
                int reg = (op & 7) | (dec.rexB << 3);
                setReg(reg, size, bswap(r[reg], size));
            }
            default -> sse(op); // SSE, SSE2, MMX, 0F AE, CLTS; #UD for the rest
        }
    }

    /** BT, BTS, BTR, BTC; with a register offset a memory operand is a bit string. */
    private void bitOp(int which, long offset, int size, boolean registerOffset) {
        int bits = size * 8;
        long bit;
        if (modIsReg || !registerOffset) {
            bit = offset & (bits - 1);
        } else {
            long signed = Flags.sext(offset, size);
            ea += Math.floorDiv(signed, bits) * size;
            bit = Math.floorMod(signed, bits);
        }
        long v = rm(size);
        long mask = 1L << bit;
        rflags = (rflags & ~CF) | ((v & mask) != 0 ? CF : 0);
        switch (which) {
            case 1 -> setRm(size, v | mask);
            case 2 -> setRm(size, v & ~mask);
            case 3 -> setRm(size, v ^ mask);
            default -> { }
        }
    }

    Interpreter(Wiring w) {
        super(w);
    }
}
