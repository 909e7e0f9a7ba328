package io.cloister.backend.pkvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.restricted.PageState;
import io.cloister.testkit.TestGuest;

class PkvmPolicyTest {
    final PkvmPolicy pkvm = new PkvmPolicy();

    @Test
    void shareAndUnshareInPlaceKeepContent() {
        try (TestGuest g = new TestGuest("pvm", 1 << 20, pkvm.initialState())) {
            pkvm.adopt(g.view, g.layout);
            g.guestWriteLong(0x2000, 0xfeedL);
            MemorySegment host = Arena.ofAuto().allocate(8);
            CloisterException e = assertThrows(CloisterException.class, () -> g.memory.read(0x2000, host));
            assertEquals(Errno.EACCES, e.errno(), "host access to a page it was not given faults");
            assertEquals(0, pkvm.handle(g.view, new GuestRequest.PkvmShare(0x2000, 1)));
            g.memory.read(0x2000, host);
            assertEquals(0xfeedL, host.get(ValueLayout.JAVA_LONG, 0), "shared in place");
            assertEquals(0, pkvm.handle(g.view, new GuestRequest.PkvmUnshare(0x2000, 1)));
            assertEquals(PageState.PRIVATE, g.view.state(0x2000));
            assertEquals(0xfeedL, g.guestReadLong(0x2000), "unshared in place");
            assertEquals(0, pkvm.handle(g.view, new GuestRequest.MapGpaRange(0x2000, 1, 0)));
            assertEquals(0xfeedL, g.guestReadLong(0x2000));
        }
    }

    @Test
    void badRequests() {
        try (TestGuest g = new TestGuest("pvm", 1 << 20, pkvm.initialState())) {
            assertEquals(-22, pkvm.handle(g.view, new GuestRequest.PkvmShare(0x2000, 0)));
            assertEquals(-14, pkvm.handle(g.view, new GuestRequest.PkvmShare(0x200000, 1)));
            assertEquals(-95, pkvm.handle(g.view, new GuestRequest.TdxMapGpa(0x2000, 0x1000)));
            assertEquals(256, g.view.privatePages());
        }
    }
}
