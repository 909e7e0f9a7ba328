package io.cloister.cpu.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The vCPU members compiled blocks use are checked when the block compiler's references
 * initialise, so a rename breaks the first compiled block, not a guest that reaches a rare form.
 */
class VcpuMembersTest {
    @Test
    void theEmittersReferencesResolve() {
        assertEquals("adcFast", VcpuMembers.ADC_FAST.name());
        assertEquals("(JJJI)J", VcpuMembers.ADC_FAST.type().descriptorString());
        assertEquals("I", VcpuMembers.POS.type().descriptorString());
        assertEquals("(Lio/cloister/cpu/x86/X86Vcpu;[JJ)J", VcpuMembers.BLOCK_RUN.type().descriptorString());
    }

    @Test
    void aMissingMethodIsRefusedWithItsName() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> VcpuMembers.method("aluFaster", long.class, int.class, long.class, long.class, int.class));
        assertTrue(e.getMessage().contains("X86Vcpu.aluFaster"), e.getMessage());
    }

    @Test
    void aChangedTypeIsRefused() {
        assertThrows(IllegalStateException.class, () -> VcpuMembers.method("aluFast", long.class, int.class, long.class, long.class));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> VcpuMembers.field("pos", long.class));
        assertTrue(e.getMessage().contains("X86Vcpu.pos"), e.getMessage());
    }

    @Test
    void aMemberEmittedCodeCannotReachIsRefused() {
        // Private: a hidden class of the package could not call it.
        assertThrows(IllegalStateException.class, () -> VcpuMembers.method("carry", long.class));
    }
}
