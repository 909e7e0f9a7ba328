package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * Which decoded instructions take the decoded path's fast forms (FastForms). Their semantics are
 * checked where every decoded instruction's are: DecoderFuzzTest, HostOracleTest and LazyFlagsTest
 * run the decoded path through the same entry as a trace (stepDecodedUncached), and a fast form that
 * kept the upper half of a 32-bit register move failed DecoderFuzzTest. This pins that the forms are
 * taken, so that those tests exercise them, and that the forms they must not take (word sizes, byte
 * registers written but by SETcc, ADC and SBB, 32-bit stacks, read-modify-write of memory but CMP) are left to
 * the general switch.
 */
class FastFormsTest {
    private static Insn decode(String hex, boolean code64) {
        String[] parts = hex.trim().split(" ");
        int[] b = new int[16];
        for (int i = 0; i < parts.length; i++) {
            b[i] = Integer.parseInt(parts[i], 16);
        }
        b[parts.length] = 0x90; // a window of 16 bytes
        return Insn.decode(MemorySegment.ofArray(bytes(b)), 0, code64);
    }

    /** The entry's form; and that it has an op shape of its own (Ops) exactly when it has a form. */
    private static int form(String hex, boolean code64) {
        Insn in = decode(hex, code64);
        assertEquals(in.form == FastForms.NONE, Ops.of(in) instanceof Ops.Slow, hex + ": its op " + Ops.of(in).getClass().getSimpleName());
        return in.form;
    }

    @ParameterizedTest
    @CsvSource({
        "48 89 d8, MOV_RR8", // mov rax, rbx
        "89 d8, MOV_RR4", // mov eax, ebx
        "48 8b c3, MOV_RR8_REV", // mov rax, rbx (8B form)
        "8b c3, MOV_RR4_REV",
        "48 8b 03, LOAD8", // mov rax, [rbx]
        "8b 43 08, LOAD4", // mov eax, [rbx+8]
        "48 89 03, STORE8", // mov [rbx], rax
        "89 03, STORE4",
        "48 01 d8, ALU_RR8", // add rax, rbx
        "29 d8, ALU_RR4", // sub eax, ebx
        "48 39 d8, ALU_RR8", // cmp rax, rbx
        "31 c0, ALU_RR4", // xor eax, eax
        "48 83 c0 08, ALU_RI8", // add rax, 8
        "81 e1 ff 00 00 00, ALU_RI4", // and ecx, 0xff
        "48 85 c0, TEST_RR8", // test rax, rax
        "85 c0, TEST_RR4",
        "50, PUSH8",
        "41 5f, POP8", // pop r15
        "e8 00 00 00 00, CALL8",
        "c3, RET8",
        "48 8d 44 24 08, LEA8", // lea rax, [rsp+8]
        "74 02, JCC",
        "eb 02, JMP",
        "0f 1f 00, NOP",
        // the general switch's
        "48 11 d8, NONE", // adc: reads CF
        "48 19 d8, NONE", // sbb
        "88 d8, NONE", // mov al, bl
        "66 89 d8, NONE", // mov ax, bx
        "48 01 03, ALU_MR8", // add [rbx], rax: memory destination
        "29 03, ALU_MR4", // sub [rbx], eax
        "48 03 03, ALU_RM8", // add rax, [rbx]
        "33 43 08, ALU_RM4", // xor eax, [rbx+8]
        "48 13 03, NONE", // adc rax, [rbx]: reads CF
        "66 50, NONE", // push ax
        "8d 44 24 08, LEA4", // lea eax, [rsp+8]
        "66 8d 44 24 08, NONE", // lea ax, [rsp+8]
        "48 b8 01 02 03 04 05 06 07 08, MOV_RI8", // mov rax, imm64
        "48 c7 c0 ff ff ff ff, MOV_RI8", // mov rax, -1 (imm32 sign-extended)
        "b9 e8 03 00 00, MOV_RI4", // mov ecx, 1000
        "b0 01, NONE", // mov al, 1
        "48 c7 03 01 00 00 00, MOV_MI8", // mov qword [rbx], 1
        "c7 43 08 01 00 00 00, MOV_MI4", // mov dword [rbx+8], 1
        "c6 03 01, MOV_MI1", // mov byte [rbx], 1
        "66 c7 03 01 00, NONE", // mov word [rbx], 1
        "88 03, STORE1", // mov [rbx], al
        "88 d8, NONE", // mov al, bl: a byte register
        "0f b6 03, MOVZX_M1", // movzx eax, byte [rbx]
        "48 0f b7 03, MOVZX_M2", // movzx rax, word [rbx]
        "0f b6 c7, MOVZX_R1", // movzx eax, bh
        "0f b7 c3, MOVZX_R2", // movzx eax, bx
        "66 0f b6 03, NONE", // movzx ax, byte [rbx]
        "48 63 c3, MOVSXD_R", // movsxd rax, ebx
        "48 63 03, MOVSXD_M", // movsxd rax, [rbx]
        "48 0f be c3, NONE", // movsx rax, bl
        "84 c0, TEST_RR1", // test al, al
        "84 e4, TEST_RR1", // test ah, ah
        "a8 01, TEST_RI1", // test al, 1
        "f6 03 01, TEST_MI1", // test byte [rbx], 1
        "a9 00 01 00 00, TEST_RI4", // test eax, 0x100
        "48 f7 c1 01 00 00 00, TEST_RI8", // test rcx, 1
        "48 83 3b 00, CMP_MI8", // cmp qword [rbx], 0
        "81 7b 08 00 01 00 00, CMP_MI4", // cmp dword [rbx+8], 0x100
        "80 3b 2f, CMP_MI1", // cmp byte [rbx], '/'
        "3c 2f, CMP_RI1", // cmp al, '/'
        "80 c3 01, NONE", // add bl, 1: a byte register written
        "48 83 03 01, ALU_MI", // add qword [rbx], 1: written back
        "80 03 01, ALU_MI", // add byte [rbx], 1
        "66 81 63 08 ff 0f, ALU_MI", // and word [rbx+8], 0xfff
        "66 83 3b 00, ALU_MI", // cmp word [rbx], 0
        "48 83 13 01, NONE", // adc qword [rbx], 1: reads CF
        "8a 03, LOAD1", // mov al, [rbx]
        "8a 23, LOAD1", // mov ah, [rbx]
        "40 8a 33, LOAD1", // mov sil, [rbx]
        "02 03, ALU_RM1", // add al, [rbx]
        "3a 7b 01, ALU_RM1", // cmp bh, [rbx+1]
        "1a 03, NONE", // sbb al, [rbx]: reads CF
        "00 03, ALU_MR1", // add [rbx], al
        "38 23, ALU_MR1", // cmp [rbx], ah
        "66 89 03, STORE2", // mov [rbx], ax
        "66 8b 03, NONE", // mov ax, [rbx]
        "48 f7 03 01 00 00 00, TEST_MI8", // test qword [rbx], 1
        "f7 43 08 00 01 00 00, TEST_MI4", // test dword [rbx+8], 0x100
        "ff 13, CALL_M8", // call [rbx]
        "ff 15 00 00 00 00, CALL_M8", // call [rip+0]
        "ff 23, JMP_M8", // jmp [rbx]
        "ff d0, NONE", // call rax
        "0f 18 0b, NOP", // prefetcht0 [rbx]
        "0f 0d 0b, NOP", // prefetchw [rbx]
        "c1 c0 07, SHIFT_RI4", // rol eax, 7
        "48 c1 e8 04, SHIFT_RI8", // shr rax, 4
        "48 d1 e0, SHIFT_RI8", // shl rax, 1
        "48 d3 e0, SHIFT_RC", // shl rax, cl
        "d3 f8, SHIFT_RC", // sar eax, cl
        "d3 23, NONE", // shl dword [rbx], cl
        "48 0f af c3, IMUL_R", // imul rax, rbx
        "6b c3 0c, IMUL_R", // imul eax, ebx, 12
        "48 0f af 03, NONE", // imul rax, [rbx]
        "66 0f af c3, NONE", // imul ax, bx
        "48 ff c0, INC_DEC_R", // inc rax
        "ff c9, INC_DEC_R", // dec ecx
        "ff 0b, INC_DEC_M", // dec dword [rbx]
        "48 ff 43 08, INC_DEC_M", // inc qword [rbx+8]
        "fe c0, NONE", // inc al
        "66 ff c0, NONE", // inc ax
        "48 f7 d0, NOT_NEG_R", // not rax
        "f7 d8, NOT_NEG_R", // neg eax
        "48 f7 e3, NONE", // mul rbx
        "f7 13, NONE", // not dword [rbx]
        "0f 94 c0, SETCC_R", // sete al
        "0f 9c c4, SETCC_R", // setl ah
        "40 0f 92 c6, SETCC_R", // setb sil
        "0f 94 03, NONE", // sete [rbx]
        "48 0f 44 c3, CMOV_RR", // cmove rax, rbx
        "0f 4c c3, CMOV_RR", // cmovl eax, ebx
        "48 0f 44 03, NONE", // cmove rax, [rbx]
        "66 0f 44 c3, NONE", // cmove ax, bx
        "c0 e0 04, NONE", // shl al, 4
        "c1 23 04, NONE", // shl dword [rbx], 4
    })
    void formsIn64BitCode(String hex, String expected) throws Exception {
        assertEquals(FastForms.class.getDeclaredField(expected).getInt(null), form(hex, true), hex);
    }

    @ParameterizedTest
    @CsvSource({
        "89 d8, MOV_RR4",
        "50, NONE", // a 4-byte push: the general switch's
        "c3, NONE",
        "ff 13, NONE", // call [ebx]: a 4-byte target and push
        "e8 00 00 00 00, NONE",
        "74 02, JCC",
        "0f b6 03, MOVZX_M1",
        "8d 44 24 08, LEA4",
        "63 c3, NONE", // arpl outside 64-bit mode
    })
    void formsIn32BitCode(String hex, String expected) throws Exception {
        assertEquals(FastForms.class.getDeclaredField(expected).getInt(null), form(hex, false), hex);
    }

    /**
     * A memory op's address agrees with the entry's (Operands.offset and the segment base) for each
     * addressing shape, the base-and-displacement shortcut among them: the semantic tests reach
     * the shapes only as their random encodings fall.
     */
    @ParameterizedTest
    @CsvSource({
        "48 8b 43 08, true", // mov rax, [rbx+8]: the shortcut
        "48 8b 43 f8, true", // [rbx-8]
        "48 8b 04 8b, true", // mov rax, [rbx+rcx*4]
        "48 8b 05 10 00 00 00, true", // mov rax, [rip+0x10]
        "64 48 8b 03, true", // mov rax, fs:[rbx]
        "65 48 8b 43 08, true", // mov rax, gs:[rbx+8]
        "67 48 8b 43 08, true", // mov rax, [ebx+8]: 32-bit addressing
        "48 8b 04 25 00 10 00 00, true", // mov rax, [0x1000]: no base
        "8b 43 08, false", // mov eax, [ebx+8] in 32-bit code
    })
    void memoryOpsAddressAsTheirEntries(String hex, boolean code64) {
        Insn in = decode(hex, code64);
        Ops.MemOp op = (Ops.MemOp) Ops.of(in);
        try (var guest = new TestGuest("ops", 1 << 16, PageState.SHARED)) {
            X86Vcpu cpu = new X86Vcpu(0, guest.view, X86Engine.DEFAULT, CocoCpu.NONE, 0x1000, 0);
            cpu.code64 = code64;
            cpu.r[X86Vcpu.RBX] = 0xffff_ffff_0000_1000L;
            cpu.r[X86Vcpu.RCX] = 3;
            cpu.fsBase = 0x7000_0000L;
            cpu.gsBase = 0x8000_0000L;
            cpu.rip = 0x40_0000;
            long next = cpu.rip + in.len;
            assertEquals(in.ea(cpu.r, next, cpu.segBase(in.seg)), op.ea(cpu, next), hex);
        }
    }
}
