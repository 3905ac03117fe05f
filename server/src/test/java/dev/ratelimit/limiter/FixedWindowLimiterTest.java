package dev.ratelimit.limiter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** envoyproxy/ratelimit's fixed window, aligned to the epoch, without counting rejected requests. */
class FixedWindowLimiterTest {
  private static final long T0 = 1_767_225_600_000L; // 2026-01-01T00:00:00Z, a window boundary
  private final FixedWindowLimiter tenSeconds = new FixedWindowLimiter(Duration.ofSeconds(10));
  private final HeapStateBuffer state = new HeapStateBuffer(new byte[tenSeconds.stateSize(0, 100)]);

  private Verdict hit(long at, long hits) {
    return tenSeconds.apply(state, at, hits, 100);
  }

  @Test
  void resetsExactlyAtTheBoundaryWhateverWhenTheFirstRequestCame() {
    Verdict first = hit(T0 + 9_000, 100);
    assertFalse(first.overLimit());
    assertEquals(T0 + 10_000, first.resetAtMillis(), "the window is [T0, T0+10s), not 10 s from the first request");
    assertTrue(hit(T0 + 9_999, 1).overLimit());
    Verdict next = hit(T0 + 10_000, 1);
    assertFalse(next.overLimit(), "a new window starts at the boundary");
    assertEquals(1, next.current());
    assertEquals(99, next.remaining());
    assertEquals(T0 + 20_000, next.resetAtMillis());
  }

  @Test
  void admitsExactlyTheLimitPerWindow() {
    for (int i = 0; i < 100; i++) {
      Verdict v = hit(T0 + i * 50L, 1);
      assertFalse(v.overLimit(), "request " + (i + 1));
      assertEquals(i + 1, v.current());
    }
    Verdict over = hit(T0 + 5_000, 1);
    assertTrue(over.overLimit());
    assertEquals(100, over.current());
    assertEquals(0, over.remaining());
  }

  @Test
  void aRejectedRequestIsNotCountedUnlikeEnvoyProxy() {
    hit(T0, 90);
    assertTrue(hit(T0 + 1, 15).overLimit(), "90 + 15 > 100");
    Verdict v = hit(T0 + 2, 10);
    assertFalse(v.overLimit(), "envoyproxy would have counted the 15 and refused this");
    assertEquals(100, v.current());
  }

  @Test
  void checkOnlyReadsWithoutCountingAndLeavesNoState() {
    Verdict v = hit(T0, 0);
    assertFalse(v.overLimit());
    assertEquals(0, v.current());
    assertEquals(0, HeapStateBuffer.expiresAt(state.bytes()), "nothing recorded for a key never seen");
    hit(T0, 5);
    assertEquals(5, hit(T0, 0).current());
    assertEquals(T0 + 10_000, HeapStateBuffer.expiresAt(state.bytes()), "the sweeper may drop it at the window end");
  }

  @Test
  void hugeHitsDoNotOverflow() {
    hit(T0, 1);
    assertTrue(hit(T0, Long.MAX_VALUE).overLimit());
    assertEquals(1, hit(T0, 0).current());
  }

  @Test
  void aClockSteppingBackCountsIntoTheNewestWindow() {
    hit(T0 + 10_000, 60);
    Verdict back = hit(T0 + 9_000, 50);
    assertTrue(back.overLimit(), "60 + 50 in the newest window");
    assertEquals(T0 + 20_000, back.resetAtMillis());
  }

  @Test
  void aRefundTakesHitsBackOnlyInTheirOwnWindowAndNeverBelowZero() {
    hit(T0 + 1_000, 5);
    tenSeconds.refund(state, T0 + 2_000, 2, 100);
    assertEquals(3, hit(T0 + 2_000, 0).current());
    tenSeconds.refund(state, T0 + 2_000, 0, 100);
    assertEquals(3, hit(T0 + 2_000, 0).current(), "nothing to take back");
    tenSeconds.refund(state, T0 + 10_000, 3, 100);
    assertEquals(3, tenSeconds.apply(state, T0 + 9_999, 0, 100).current(), "a later window's refund leaves this one");
    tenSeconds.refund(state, T0 + 3_000, 10, 100);
    assertEquals(0, hit(T0 + 3_000, 0).current(), "never below zero");
  }

  @Test
  void theWindowDefinesTheLimiterAndItsCounter() {
    FixedWindowLimiter same = new FixedWindowLimiter(Duration.ofSeconds(10));
    FixedWindowLimiter other = new FixedWindowLimiter(Duration.ofSeconds(20));
    assertEquals(tenSeconds, same);
    assertEquals(tenSeconds.hashCode(), same.hashCode());
    assertEquals(tenSeconds.stateShape(), same.stateShape());
    assertNotEquals(tenSeconds, other);
    assertNotEquals(tenSeconds.stateShape(), other.stateShape());
    assertNotEquals(tenSeconds.stateShape(), new SlidingWindowLimiter(Duration.ofSeconds(10), 10).stateShape());
    assertEquals(10_000, tenSeconds.windowMillis());
    assertEquals("fixed_window(window 10000 ms)", tenSeconds.toString());
    assertThrows(IllegalArgumentException.class, () -> new FixedWindowLimiter(Duration.ZERO));
    assertEquals(1, new FixedWindowLimiter(Duration.ofMillis(1)).windowMillis());
  }
}
