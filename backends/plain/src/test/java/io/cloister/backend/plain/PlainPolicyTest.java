package io.cloister.backend.plain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.CloisterException;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.memory.Backing;
import io.cloister.api.memory.SlotKind;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

class PlainPolicyTest {
    final PlainPolicy plain = new PlainPolicy();

    @Test
    void everythingSharedAndConversionsRefused() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, plain.initialState())) {
            plain.adopt(g.view, g.layout);
            assertEquals(0, g.view.privatePages());
            assertEquals(-95, plain.handle(g.view, new GuestRequest.MapGpaRange(0, 1, GuestRequest.MapGpaRange.ATTR_ENCRYPTED)));
            assertEquals(-95, plain.handle(g.view, new GuestRequest.PkvmShare(0, 1)));
            assertEquals(0, g.view.privatePages(), "nothing converted");
        }
    }

    @Test
    void smramAndPamAliasesAreAllowed() {
        plain.validateLayout(List.of(SlotSpec.ram(0, 1 << 20),
                new SlotSpec(0xfeda0000L, 0x20000, SlotKind.SMRAM_ALIAS, false, new Backing.AliasOf(0, 0xa0000)),
                new SlotSpec(0xe0000, 0x10000, SlotKind.PAM_ALIAS, false, new Backing.AliasOf(0, 0xe0000))));
    }

    @Test
    void aVmWithPrivatePagesCannotBeAdopted() {
        try (TestGuest g = new TestGuest("vm", 1 << 20, PageState.SHARED)) {
            g.view.convert(0x3000, 0x2000, PageState.PRIVATE, ContentRule.PRESERVE);
            CloisterException e = assertThrows(CloisterException.class, () -> plain.adopt(g.view, g.layout));
            assertEquals("EINVAL: backend plain cannot run VM 'vm': 2 of its pages are private and plain has no private memory",
                    e.getMessage());
        }
    }
}
