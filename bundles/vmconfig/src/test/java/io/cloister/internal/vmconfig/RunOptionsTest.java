package io.cloister.internal.vmconfig;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class RunOptionsTest {
    @Test
    void secondsArePositive() {
        assertEquals(20_000, RunOptions.millis("timeout", "20"));
        assertEquals(200, RunOptions.millis("stats", "0.2"));
        assertEquals(1, RunOptions.millis("stats", "0.0001"));
        for (String bad : new String[] {"0", "-1", "-0.5", "abc", "", "NaN", "Infinity", "1e10"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RunOptions.millis("timeout", bad), bad);
            assertEquals("bad --timeout '" + bad + "': a number of seconds greater than 0 (and at most 1000000000) expected", e.getMessage());
        }
    }
}
