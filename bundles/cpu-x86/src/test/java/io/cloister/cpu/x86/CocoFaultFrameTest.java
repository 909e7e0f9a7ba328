package io.cloister.cpu.x86;

import static io.cloister.cpu.x86.Code.bytes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.Exit;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

/**
 * A page the backend refuses (TDX: not accepted, SNP: not validated) raises #VE or #VC. The
 * hardware pushes an error code for #VC and none for #VE: the handler's frame must be laid out
 * accordingly, or the guest's iretq returns to its error code.
 */
class CocoFaultFrameTest {
    static final long REFUSED = 0x50000;

    @ParameterizedTest
    @CsvSource({"20, false", "29, true"})
    void theFrameHasAnErrorCodeOnlyWhereTheHardwarePushesOne(int vector, boolean errorCode) {
        CocoCpu refusing = new CocoCpu() {
            public int[] cpuid(int leaf, int subleaf) {
                return null;
            }

            public Long msr(int msr) {
                return null;
            }

            public boolean mayAccess(long gpa) {
                return gpa != REFUSED;
            }

            public int accessFaultVector() {
                return vector;
            }
        };
        try (TestGuest g = new TestGuest("coco-frame", 1 << 20, PageState.SHARED)) {
            X86Vcpu cpu = new X86Vcpu(0, g.view, X86Engine.DEFAULT, refusing, LongMode.CODE, 0);
            LongMode.enter(cpu, g);
            LongMode.code(g, LongMode.CODE, bytes(0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x05, 0x00)); // mov rax, [0x50000]
            Exit e = cpu.run();
            assertTrue(e instanceof Exit.Halt, e.toString());
            assertEquals(LongMode.handler(vector) + 1, cpu.rip, "the handler ran");
            long sp = cpu.r[X86Vcpu.RSP];
            int words = errorCode ? 6 : 5; // [error,] rip, cs, rflags, rsp, ss
            assertEquals(LongMode.STACK - 8L * words, sp, "frame size");
            long frame = errorCode ? sp + 8 : sp;
            if (errorCode) {
                assertEquals(0, LongMode.read(g, sp), "error code");
            }
            assertEquals(LongMode.CODE, LongMode.read(g, frame), "return rip: the faulting instruction");
            assertEquals(0x08, LongMode.read(g, frame + 8), "cs");
            assertEquals(LongMode.STACK, LongMode.read(g, frame + 24), "interrupted rsp");
        }
    }
}
