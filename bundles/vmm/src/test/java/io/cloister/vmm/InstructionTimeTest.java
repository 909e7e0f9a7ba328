package io.cloister.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import io.cloister.api.device.VmClock;

/**
 * Deterministic time: VM time is the retired count shifted, timers fall due at an exact count and
 * fire in deadline order on the caller's thread under the bus lock, and an idle vCPU skips ahead
 * to the next deadline.
 */
class InstructionTimeTest {
    final Object bus = new Object();
    long retired;

    InstructionTime time(int shift) {
        InstructionTime t = new InstructionTime("t", bus, shift);
        t.count(() -> retired);
        return t;
    }

    @Test
    void timeIsTheRetiredCountShifted() {
        InstructionTime t = time(2);
        retired = 1000;
        assertEquals(4000, t.nanos());
        assertEquals(Long.MAX_VALUE, t.nextDeadline(), "no timer armed");
        assertThrows(IllegalArgumentException.class, () -> new InstructionTime("t", bus, 11));
    }

    @Test
    void timersFireAtTheirCountInDeadlineOrderUnderTheBusLock() {
        InstructionTime t = time(2);
        List<String> fired = new ArrayList<>();
        VmClock.Timer late = t.timer(() -> fired.add("late " + Thread.holdsLock(bus)));
        VmClock.Timer early = t.timer(() -> fired.add("early " + Thread.holdsLock(bus)));
        late.arm(4002); // due at the first count whose time is at or past 4002 ns: 1001
        early.arm(2000);
        assertEquals(500, t.nextDeadline());
        retired = 499;
        assertTrue(t.reached(499, false));
        assertEquals(List.of(), fired, "nothing due before its count");
        retired = 1001;
        t.reached(1001, false);
        assertEquals(List.of("early true", "late true"), fired);
        assertEquals(Long.MAX_VALUE, t.nextDeadline());
    }

    @Test
    void anIdleVcpuSkipsToTheNextDeadlineAndTimeStaysMonotonic() {
        InstructionTime t = time(0);
        int[] n = {0};
        VmClock.Timer[] periodic = new VmClock.Timer[1];
        periodic[0] = t.timer(() -> {
            n[0]++;
            periodic[0].arm(t.nanos() + 1_000_000); // re-armed from its expiry, as the PIT does
        });
        assertFalse(t.reached(0, true), "idle with nothing armed: only an outside event wakes the vCPU");
        periodic[0].arm(1_000_000);
        retired = 10;
        assertTrue(t.reached(10, true));
        assertEquals(1, n[0]);
        assertEquals(1_000_000, t.nanos(), "time jumped to the deadline, not past it");
        // Re-armed for 2,000,000 ns, which the vCPU reaches after another 1,000,000 instructions.
        assertEquals(1_000_010, t.nextDeadline(), "the next period counted from the skipped-to time");
        retired = 20;
        assertEquals(1_000_010, t.nanos());
    }
}
