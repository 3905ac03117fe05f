package dev.ratelimit.load;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Schedule arithmetic of the open loop. */
class PacerTest {
    @Test
    void requestsAreEvenlySpaced() {
        Pacer p = new Pacer(1_000, 4);
        assertEquals(1_000, p.intendedNanos(0));
        assertEquals(1_000 + 250_000_000, p.intendedNanos(1));
        assertEquals(1_000 + 1_000_000_000, p.intendedNanos(4));
        assertEquals(1_000 + 2_750_000_000L, p.intendedNanos(11));
    }

    @Test
    void dueCountIsTheInverseOfIntendedTime() {
        SplittableRandom random = new SplittableRandom(3);
        for (long rate : new long[] {1, 3, 7, 1_000, 33_333, 50_000, 999_999_937}) {
            Pacer p = new Pacer(-5_000_000_000L, rate);
            for (int i = 0; i < 10_000; i++) {
                long now = p.startNanos() + random.nextLong(0, 100_000_000_000L);
                long due = p.dueCount(now);
                assertTrue(p.intendedNanos(due - 1) <= now, "rate " + rate + " now " + now);
                assertTrue(p.intendedNanos(due) > now, "rate " + rate + " now " + now);
            }
        }
    }

    @Test
    void exactlyRateRequestsPerSecondAndNothingBeforeStart() {
        Pacer p = new Pacer(0, 3);
        assertEquals(0, p.dueCount(-1));
        assertEquals(1, p.dueCount(0));
        assertEquals(1, p.dueCount(333_333_332));
        assertEquals(2, p.dueCount(333_333_333));
        assertEquals(3, p.dueCount(999_999_999));
        assertEquals(3 * 3600, new Pacer(0, 3).dueCount(3_600_000_000_000L - 1));
    }

    @Test
    void noOverflowOnLongRuns() {
        Pacer p = new Pacer(0, 1_000_000);
        long index = 1_000_000L * 86_400 * 365; // one year at 1M req/s
        assertEquals(86_400L * 365 * 1_000_000_000L, p.intendedNanos(index));
        assertEquals(index + 1, p.dueCount(p.intendedNanos(index)));
    }

    @Test
    void rejectsNonPositiveRates() {
        assertThrows(IllegalArgumentException.class, () -> new Pacer(0, 0));
    }
}
