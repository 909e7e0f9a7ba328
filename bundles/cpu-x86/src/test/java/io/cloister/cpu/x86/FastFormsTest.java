package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Which decoded instructions take the decoded path's fast forms (FastForms). Their semantics are
 * checked where every decoded instruction's are: DecoderFuzzTest, HostOracleTest and LazyFlagsTest
 * run the decoded path through the same entry as a trace (stepDecodedUncached), and a fast form that
 * kept the upper half of a 32-bit register move failed DecoderFuzzTest. This pins that the forms are
 * taken, so that those tests exercise them, and that the forms they must not take (byte and word
 * sizes, ADC and SBB, 32-bit stacks) are left to the general switch.
 */
class FastFormsTest {
    private static int form(String hex, boolean code64) {
        String[] parts = hex.trim().split(" ");
        int[] b = new int[16];
        for (int i = 0; i < parts.length; i++) {
            b[i] = Integer.parseInt(parts[i], 16);
        }
        b[parts.length] = 0x90; // a window of 16 bytes
        return Insn.decode(MemorySegment.ofArray(bytes(b)), 0, code64).form;
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
        "48 01 03, NONE", // add [rbx], rax: memory destination
        "66 50, NONE", // push ax
        "8d 44 24 08, NONE", // lea eax, [rsp+8]
    })
    void formsIn64BitCode(String hex, String expected) throws Exception {
        assertEquals(FastForms.class.getDeclaredField(expected).getInt(null), form(hex, true), hex);
    }

    @ParameterizedTest
    @CsvSource({
        "89 d8, MOV_RR4",
        "50, NONE", // a 4-byte push: the general switch's
        "c3, NONE",
        "e8 00 00 00 00, NONE",
        "74 02, JCC",
    })
    void formsIn32BitCode(String hex, String expected) throws Exception {
        assertEquals(FastForms.class.getDeclaredField(expected).getInt(null), form(hex, false), hex);
    }
}
