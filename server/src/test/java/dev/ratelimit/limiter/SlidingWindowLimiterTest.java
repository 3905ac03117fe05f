package dev.ratelimit.limiter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The sliding window of docs/algorithms.md, on a heap state with explicit times. */
class SlidingWindowLimiterTest {
  private static final long T0 = 1_767_225_600_000L; // 2026-01-01T00:00:00Z, a slot boundary
  private final SlidingWindowLimiter freePlan = new SlidingWindowLimiter(Duration.ofSeconds(60), 60);
  private final HeapStateBuffer state = new HeapStateBuffer(new byte[freePlan.stateSizeFor(4)]);

  private Verdict hit(long at) {
    return freePlan.apply(state, at, 1, 60);
  }

  @Test
  void sixtyFirstRequestOfAFreeOrgWithinSixtySecondsIsRejected() {
    for (int i = 0; i < 60; i++) {
      Verdict v = hit(T0 + i * 900L);
      assertFalse(v.overLimit(), "request " + (i + 1));
      assertEquals(i + 1, v.current());
      assertEquals(59 - i, v.remaining());
    }
    Verdict v61 = hit(T0 + 59_999);
    assertTrue(v61.overLimit());
    assertEquals(60, v61.current());
    assertEquals(0, v61.remaining());
  }

  @Test
  void admittedAgainExactlyWhenTheOldestSlotAgesOut() {
    for (int i = 0; i < 60; i++) {
      hit(T0 + 500); // all sixty in the first slot [T0, T0+1s)
    }
    // The slot ends at T0+1s and ages out one window later.
    long agesOut = T0 + 1_000 + 60_000;
    assertTrue(hit(agesOut - 1).overLimit());
    Verdict v = hit(agesOut);
    assertFalse(v.overLimit());
    assertEquals(1, v.current());
  }

  @Test
  void aFullWindowIdleForTwoRingsStartsAfresh() {
    for (int i = 0; i < 60; i++) {
      hit(T0 + 500);
    }
    // 121 s later the ring of 61 slots has wrapped twice and second 121 uses second 0's counter again: it must be
    // cleared with every other slot, not read as 60 hits still in the window.
    Verdict peek = freePlan.apply(state, T0 + 121_500, 0, 60);
    assertEquals(0, peek.current());
    assertEquals(60, peek.remaining());
    Verdict v = hit(T0 + 121_500);
    assertFalse(v.overLimit());
    assertEquals(1, v.current());
  }

  @Test
  void afterAnyIdleGapLongerThanTheWindowTheWholeLimitIsAvailable() {
    for (long gap = 61_000; gap <= 250_000; gap += 1_000) {
      HeapStateBuffer fresh = new HeapStateBuffer(new byte[freePlan.stateSizeFor(1)]);
      assertFalse(freePlan.apply(fresh, T0 + 200, 60, 60).overLimit());
      Verdict v = freePlan.apply(fresh, T0 + gap, 60, 60);
      assertFalse(v.overLimit(), "idle " + gap + " ms");
      assertEquals(60, v.current(), "idle " + gap + " ms");
    }
  }

  @Test
  void resetIsTheOldestRequestsSlotEndPlusTheWindow() {
    hit(T0 + 2_300); // slot [T0+2s, T0+3s)
    hit(T0 + 7_100);
    Verdict v = hit(T0 + 30_000);
    assertEquals(T0 + 3_000 + 60_000, v.resetAtMillis());
    assertEquals((T0 + 63_000) / 1000, v.resetEpochSeconds());
    assertEquals(33, v.secondsUntilReset(T0 + 30_000));
  }

  @Test
  void aRejectedBurstDoesNotDelayRecovery() {
    for (int i = 0; i < 60; i++) {
      hit(T0);
    }
    for (int i = 0; i < 1_000; i++) {
      assertTrue(hit(T0 + 10_000 + i * 40L).overLimit());
    }
    assertFalse(hit(T0 + 61_000).overLimit(), "no lockout: recovery happens when the first slot ages out");
  }

  @Test
  void neverAdmitsMoreThanTheLimitInAnyTrueWindow() {
    // Hits arriving every 137 ms for five minutes: count admissions in every 60 s window ending at each hit.
    long[] admitted = new long[3_000];
    int n = 0;
    for (long t = T0; t < T0 + 300_000; t += 137) {
      if (!hit(t).overLimit()) {
        admitted[n++] = t;
      }
    }
    for (int i = 0; i < n; i++) {
      int inWindow = 0;
      for (int j = i; j >= 0 && admitted[i] - admitted[j] < 60_000; j--) {
        inWindow++;
      }
      assertTrue(inWindow <= 60, "window ending at hit " + i + " holds " + inWindow);
    }
    assertTrue(n >= 5 * 60 - 5, "the limiter must not be overly strict either: admitted " + n);
  }

  @Test
  void checkOnlyHitsDoNotRecord() {
    hit(T0);
    Verdict peek = freePlan.apply(state, T0 + 10, 0, 60);
    assertFalse(peek.overLimit());
    assertEquals(1, peek.current());
    assertEquals(2, hit(T0 + 20).current(), "the peek left the count unchanged");
  }

  @Test
  void remainingGoesNegativeWhenTheLimitIsLowered() {
    for (int i = 0; i < 50; i++) {
      hit(T0);
    }
    Verdict v = freePlan.apply(state, T0 + 1, 1, 30);
    assertTrue(v.overLimit());
    assertEquals(50, v.current());
    assertEquals(-20, v.remaining());
  }

  @Test
  void hugeHitsSaturateInsteadOfOverflowing() {
    hit(T0);
    Verdict v = freePlan.apply(state, T0, Long.MAX_VALUE, 0xFFFF_FFFFL);
    assertTrue(v.overLimit());
    assertEquals(1, v.current());
    Verdict max = new SlidingWindowLimiter(Duration.ofSeconds(60), 60)
        .apply(new HeapStateBuffer(new byte[freePlan.stateSize(0, 0xFFFF_FFFFL)]), T0, 0xFFFF_FFFFL, 0xFFFF_FFFFL);
    assertFalse(max.overLimit());
    assertEquals(0xFFFF_FFFFL, max.current(), "a slot holds up to 2^32-1 hits (unsigned)");
  }

  @Test
  void aClockSteppingBackCountsIntoTheNewestSlot() {
    hit(T0 + 10_000);
    Verdict v = hit(T0 + 5_000);
    assertFalse(v.overLimit());
    assertEquals(2, v.current());
  }

  @Test
  void expiryIsWhenTheNewestSlotAgesOut() {
    hit(T0 + 4_200);
    assertEquals(T0 + 5_000 + 60_000, state.getLong(StateBuffer.EXPIRES_AT));
  }

  @Test
  void precisionMustDivideTheWindow() {
    assertThrows(IllegalArgumentException.class, () -> new SlidingWindowLimiter(Duration.ofSeconds(1), 60));
    assertEquals(50, SlidingWindowLimiter.defaultPrecision(Duration.ofSeconds(1)));
    assertEquals(60, SlidingWindowLimiter.defaultPrecision(Duration.ofMinutes(1)));
    assertEquals(50, SlidingWindowLimiter.defaultPrecision(Duration.ofSeconds(10)));
  }

  @Test
  void aOneSecondWindowUsesTwentyMillisecondSlots() {
    SlidingWindowLimiter perSecond = new SlidingWindowLimiter(Duration.ofSeconds(1), 50);
    HeapStateBuffer s = new HeapStateBuffer(new byte[perSecond.stateSizeFor(4)]);
    for (int i = 0; i < 100; i++) {
      assertFalse(perSecond.apply(s, T0 + i, 1, 100).overLimit());
    }
    assertTrue(perSecond.apply(s, T0 + 500, 1, 100).overLimit());
    assertFalse(perSecond.apply(s, T0 + 20 + 1_000, 1, 100).overLimit());
  }

  @Test
  void counterWidthFollowsTheLimitAndNeverWraps() {
    assertEquals(1, SlidingWindowLimiter.counterBytesFor(255));
    assertEquals(2, SlidingWindowLimiter.counterBytesFor(256));
    assertEquals(2, SlidingWindowLimiter.counterBytesFor(65_535));
    assertEquals(4, SlidingWindowLimiter.counterBytesFor(65_536));
    SlidingWindowLimiter narrow = new SlidingWindowLimiter(Duration.ofSeconds(60), 60);
    assertEquals(20 + 61, narrow.stateSize(0, 255));
    assertEquals(20 + 2 * 61, narrow.stateSize(20 + 61, 1_000), "a store widens a state the limit outgrew");
    HeapStateBuffer s = new HeapStateBuffer(new byte[narrow.stateSize(0, 255)]);
    assertFalse(narrow.apply(s, T0, 255, 1_000).overLimit());
    Verdict wouldWrap = narrow.apply(s, T0, 1, 1_000);
    assertTrue(wouldWrap.overLimit(), "a full one-byte slot rejects rather than wrapping to zero");
    assertEquals(255, wouldWrap.current());
    assertFalse(narrow.apply(s, T0 + 1_000, 1, 1_000).overLimit(), "the next slot has room");
    assertEquals(freePlan.stateShape(), narrow.stateShape(), "a counter is identified by what it counts, not its width");
  }

  @Test
  void aWindowOrPrecisionOfZeroIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> new SlidingWindowLimiter(Duration.ZERO, 1));
    assertThrows(IllegalArgumentException.class, () -> new SlidingWindowLimiter(Duration.ofSeconds(60), 0));
    assertEquals(1, new SlidingWindowLimiter(Duration.ofMillis(1), 1).slotMillis(), "the smallest window");
  }

  @Test
  void theStateShapeNamesTheWindowAndItsSlots() {
    SlidingWindowLimiter same = new SlidingWindowLimiter(Duration.ofSeconds(60), 60);
    assertEquals(freePlan.stateShape(), same.stateShape());
    assertEquals(freePlan, same);
    assertEquals(freePlan.hashCode(), same.hashCode());
    SlidingWindowLimiter coarser = new SlidingWindowLimiter(Duration.ofSeconds(60), 30);
    SlidingWindowLimiter longer = new SlidingWindowLimiter(Duration.ofSeconds(120), 60);
    assertFalse(freePlan.stateShape() == coarser.stateShape(), "other slots count differently: another counter");
    assertFalse(freePlan.stateShape() == longer.stateShape(), "another window: another counter");
    assertFalse(freePlan.equals(coarser) || freePlan.equals(longer));
    assertEquals("sliding_window(window 60000 ms, 60 slots)", freePlan.toString());
  }

  @Test
  void aStoredStateOfAnotherLayoutIsSizedAsANewOne() {
    // 20 + 123 bytes is no layout of a 61-slot ring (123 is not a multiple of 61): start afresh at the limit's width.
    assertEquals(freePlan.stateSizeFor(1), freePlan.stateSize(20 + 123, 60));
    assertEquals(freePlan.stateSizeFor(2), freePlan.stateSize(20 + 123, 1_000));
    assertEquals(freePlan.stateSizeFor(1), freePlan.stateSize(20 + 3 * 61, 60), "3-byte counters are no layout");
    assertEquals(freePlan.stateSizeFor(4), freePlan.stateSize(freePlan.stateSizeFor(4), 60), "a key never narrows");
  }

  @Test
  void aReadInANewSlotRecountsTheWindowForTheReadsThatFollow() {
    for (int i = 0; i < 60; i++) {
      hit(T0 + 500);
    }
    assertEquals(0, freePlan.apply(state, T0 + 61_200, 0, 60).current(), "second 0 aged out");
    assertEquals(0, freePlan.apply(state, T0 + 61_300, 0, 60).current(), "a second read in that slot agrees");
    assertTrue(freePlan.apply(state, T0 + 61_400, 61, 60).overLimit());
    assertEquals(0, freePlan.apply(state, T0 + 61_500, 0, 60).current(), "and after a rejection too");
  }

  @Test
  void aNarrowStateIsWidenedKeepingEveryCountAndWhenItExpires() {
    HeapStateBuffer narrow = new HeapStateBuffer(new byte[freePlan.stateSize(0, 200)]);
    freePlan.apply(narrow, T0 + 500, 200, 200);
    freePlan.apply(narrow, T0 + 30_500, 55, 255);
    HeapStateBuffer wide = new HeapStateBuffer(new byte[freePlan.stateSize(narrow.size(), 70_000)]);
    freePlan.resize(narrow, wide);
    assertEquals(narrow.getLong(StateBuffer.EXPIRES_AT), wide.getLong(StateBuffer.EXPIRES_AT));
    Verdict v = freePlan.apply(wide, T0 + 31_000, 0, 70_000);
    assertEquals(255, v.current());
    assertEquals(T0 + 61_000, v.resetAtMillis());
    assertEquals(55, freePlan.apply(wide, T0 + 61_000, 0, 70_000).current(), "second 0's 200 aged out on time");
    HeapStateBuffer untouched = new HeapStateBuffer(new byte[freePlan.stateSizeFor(1)]);
    freePlan.resize(wide, untouched);
    assertEquals(0, freePlan.apply(untouched, T0 + 31_000, 0, 60).current(), "a key never narrows: nothing copied");
  }
}
