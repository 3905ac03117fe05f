package dev.ratelimit.limiter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The optional penalty: a client that keeps sending far over its limit is shut out for a while. */
class PenaltyLimiterTest {
  private static final long T0 = 1_767_225_600_000L;
  private static final long LIMIT = 10;

  /** 10 per 10 s fixed window; penalty once a client sent more than twice its limit in a window, for 60 s. */
  private final PenaltyLimiter limiter = new PenaltyLimiter(new FixedWindowLimiter(Duration.ofSeconds(10)),
      new BigDecimal("2"), Duration.ofSeconds(60), Duration.ofSeconds(10));
  private final HeapStateBuffer state = new HeapStateBuffer(new byte[limiter.stateSize(0, LIMIT)]);

  private Verdict hit(long at) {
    return limiter.apply(state, at, 1, LIMIT);
  }

  @Test
  void aClientSendingTwiceItsLimitIsNotYetPenalised() {
    for (int i = 0; i < 20; i++) {
      hit(T0 + i);
    }
    assertFalse(hit(T0 + 10_000).overLimit(), "20 sent = 2 × limit: the next window admits again");
  }

  @Test
  void beyondTheFactorItIsRejectedForTheDurationEvenAfterTheWindowFrees() {
    for (int i = 0; i < 20; i++) {
      hit(T0 + i);
    }
    Verdict crossing = hit(T0 + 100);
    assertTrue(crossing.overLimit(), "the 21st request within the window");
    assertEquals(T0 + 100 + 60_000, crossing.resetAtMillis(), "reset is the end of the penalty");
    Verdict inNextWindow = hit(T0 + 10_000);
    assertTrue(inNextWindow.overLimit(), "the window freed, the penalty holds");
    assertEquals(0, inNextWindow.remaining());
    assertEquals(T0 + 60_100, inNextWindow.resetAtMillis());
    assertTrue(hit(T0 + 60_099).overLimit());
    Verdict after = hit(T0 + 60_100);
    assertFalse(after.overLimit(), "requests during the penalty did not extend it");
    assertEquals(1, after.current(), "requests during the penalty were not counted by the window");
  }

  @Test
  void rejectionsAreCountedPerWindow() {
    for (int window = 0; window < 5; window++) {
      long start = T0 + window * 10_000L;
      for (int i = 0; i < 20; i++) {
        assertEquals(i >= 10, hit(start + i).overLimit(), "window " + window + " request " + (i + 1));
      }
    }
  }

  @Test
  void aFactorOfOnePenalisesTheFirstRejection() {
    PenaltyLimiter strict = new PenaltyLimiter(new SlidingWindowLimiter(Duration.ofSeconds(10), 10),
        BigDecimal.ONE, Duration.ofSeconds(30), Duration.ofSeconds(10));
    HeapStateBuffer s = new HeapStateBuffer(new byte[strict.stateSize(0, LIMIT)]);
    for (int i = 0; i < 10; i++) {
      assertFalse(strict.apply(s, T0, 1, LIMIT).overLimit());
    }
    assertTrue(strict.apply(s, T0 + 500, 1, LIMIT).overLimit());
    assertTrue(strict.apply(s, T0 + 29_000, 1, LIMIT).overLimit(), "the window freed at T0+11s");
    assertFalse(strict.apply(s, T0 + 30_500, 1, LIMIT).overLimit());
  }

  @Test
  void theStateIsKeptUntilThePenaltyEnds() {
    for (int i = 0; i < 21; i++) {
      hit(T0 + i);
    }
    assertEquals(T0 + 20 + 60_000, HeapStateBuffer.expiresAt(state.bytes()));
  }

  @Test
  void checkOnlyRequestsNeverCountAsRejections() {
    for (int i = 0; i < 10; i++) {
      hit(T0);
    }
    for (int i = 0; i < 50; i++) {
      assertTrue(limiter.apply(state, T0, 0, LIMIT).remaining() <= 0);
    }
    assertFalse(hit(T0 + 10_000).overLimit());
  }

  @Test
  void readingDuringAPenaltyNeverLetsTheKeyExpireBeforeThePenaltyEnds() {
    // A token bucket refills to full within 1 s and would then let its key expire; the penalty lasts 60 s.
    PenaltyLimiter bucket = new PenaltyLimiter(new TokenBucketLimiter(10, 10, Duration.ofSeconds(1)),
        new BigDecimal("2"), Duration.ofSeconds(60), Duration.ofSeconds(1));
    HeapStateBuffer s = new HeapStateBuffer(new byte[bucket.stateSize(0, LIMIT)]);
    Verdict v = null;
    for (int i = 0; i < 31 && (v == null || v.resetAtMillis() < T0 + 60_000); i++) {
      v = bucket.apply(s, T0 + i, 1, LIMIT);
    }
    long until = v.resetAtMillis();
    assertTrue(until >= T0 + 60_000, "the penalty started");
    for (long at = T0 + 5_000; at < until; at += 5_000) {
      assertTrue(bucket.apply(s, at, 0, LIMIT).overLimit(), "a check-only read at " + (at - T0) + " ms");
      assertTrue(s.getLong(StateBuffer.EXPIRES_AT) >= until,
          "the key must outlive the penalty, or the sweeper would forget it");
    }
    assertFalse(bucket.apply(s, until + 1_000, 1, LIMIT).overLimit(), "after the penalty the bucket admits again");
  }

  @Test
  void aFactorBelowOneOrADurationOrWindowBelowOneMillisecondIsRefused() {
    Limiter inner = new FixedWindowLimiter(Duration.ofSeconds(10));
    Duration second = Duration.ofSeconds(1);
    assertThrows(IllegalArgumentException.class, () -> new PenaltyLimiter(inner, new BigDecimal("0.99"), second, second));
    assertThrows(IllegalArgumentException.class, () -> new PenaltyLimiter(inner, BigDecimal.ONE, Duration.ZERO, second));
    assertThrows(IllegalArgumentException.class, () -> new PenaltyLimiter(inner, BigDecimal.ONE, second, Duration.ZERO));
    PenaltyLimiter smallest = new PenaltyLimiter(inner, BigDecimal.ONE, Duration.ofMillis(1), Duration.ofMillis(1));
    assertEquals(1, smallest.durationMillis());
    assertEquals(1, smallest.windowMillis());
    assertEquals(inner, smallest.inner());
    assertEquals(BigDecimal.ONE, smallest.overFactor());
  }

  @Test
  void theThresholdIsTheFactorMinusOneTimesTheLimitRoundedDownAndSaturates() {
    assertEquals(10, limiter.threshold(10), "(2 - 1) × 10");
    PenaltyLimiter oneAndAHalf = new PenaltyLimiter(new FixedWindowLimiter(Duration.ofSeconds(10)),
        new BigDecimal("1.5"), Duration.ofSeconds(1), Duration.ofSeconds(1));
    assertEquals(3, oneAndAHalf.threshold(7), "3.5 rounded down");
    PenaltyLimiter huge = new PenaltyLimiter(new FixedWindowLimiter(Duration.ofSeconds(10)),
        new BigDecimal("1e30"), Duration.ofSeconds(1), Duration.ofSeconds(1));
    assertEquals(Long.MAX_VALUE, huge.threshold(10), "beyond a long: never");
  }

  @Test
  void thePenaltyEndsExactlyAtItsEnd() {
    PenaltyLimiter firstRejection = new PenaltyLimiter(new FixedWindowLimiter(Duration.ofSeconds(10)), BigDecimal.ONE,
        Duration.ofSeconds(60), Duration.ofSeconds(10));
    HeapStateBuffer s = new HeapStateBuffer(new byte[firstRejection.stateSize(0, 1)]);
    firstRejection.apply(s, T0, 1, 1);
    assertTrue(firstRejection.apply(s, T0 + 1, 1, 1).overLimit(), "the first rejection starts a 60 s penalty");
    assertTrue(firstRejection.apply(s, T0 + 60_000, 1, 1).overLimit(), "1 ms before its end");
    assertFalse(firstRejection.apply(s, T0 + 60_001, 1, 1).overLimit(), "at its end");
  }

  @Test
  void aPenaltyStateSizedForAWideCounterNeverNarrows() {
    PenaltyLimiter sliding = new PenaltyLimiter(new SlidingWindowLimiter(Duration.ofSeconds(60), 60), BigDecimal.ONE,
        Duration.ofSeconds(60), Duration.ofSeconds(60));
    int wide = sliding.stateSize(0, 70_000);
    assertEquals(wide, sliding.stateSize(wide, 60), "four-byte counters stay four bytes under a lowered limit");
    assertTrue(sliding.stateSize(0, 60) < wide);
    assertEquals(sliding.stateSize(0, 1_000), sliding.stateSize(sliding.stateSize(0, 60), 1_000), "widened");
  }

  @Test
  void rejectionsBelowTheThresholdKeepTheStateUntilTheirWindowEndsAndAddUpWithinIt() {
    // Threshold (3 - 1) × 2 = 4 rejected hits per minute; the bucket alone would let its key expire after 1 s.
    PenaltyLimiter bucket = new PenaltyLimiter(new TokenBucketLimiter(2, 2, Duration.ofSeconds(1)),
        new BigDecimal("3"), Duration.ofSeconds(60), Duration.ofSeconds(60));
    HeapStateBuffer s = new HeapStateBuffer(new byte[bucket.stateSize(0, 2)]);
    assertFalse(bucket.apply(s, T0, 2, 2).overLimit());
    assertEquals(T0 + 1_000, HeapStateBuffer.expiresAt(s.bytes()), "the bucket's own forget time");
    Verdict rejected = bucket.apply(s, T0 + 1, 3, 2);
    assertTrue(rejected.overLimit());
    assertEquals(T0 + 1_000, rejected.resetAtMillis(), "3 rejected hits: no penalty yet, the next refill");
    assertEquals(T0 + 60_000, HeapStateBuffer.expiresAt(s.bytes()), "kept while its rejections count");
    assertFalse(bucket.apply(s, T0 + 2_000, 1, 2).overLimit());
    assertEquals(T0 + 60_000, HeapStateBuffer.expiresAt(s.bytes()), "an admitted request does not shorten it");
    Verdict penalised = bucket.apply(s, T0 + 2_001, 2, 2);
    assertEquals(T0 + 62_001, penalised.resetAtMillis(), "3 + 2 rejected hits in one window pass 4: a penalty");
    assertEquals(T0 + 62_001, HeapStateBuffer.expiresAt(s.bytes()));
    assertTrue(bucket.apply(s, T0 + 30_000, 0, 2).overLimit(), "a read during the penalty");
    assertEquals(T0 + 62_001, HeapStateBuffer.expiresAt(s.bytes()), "and the state outlives the penalty");
  }

  @Test
  void rejectionsOfAnEarlierWindowDoNotAddUp() {
    PenaltyLimiter bucket = new PenaltyLimiter(new TokenBucketLimiter(2, 2, Duration.ofSeconds(1)),
        new BigDecimal("3"), Duration.ofSeconds(60), Duration.ofSeconds(60));
    HeapStateBuffer s = new HeapStateBuffer(new byte[bucket.stateSize(0, 2)]);
    bucket.apply(s, T0 + 59_000, 2, 2);
    bucket.apply(s, T0 + 59_001, 4, 2);
    Verdict nextWindow = bucket.apply(s, T0 + 60_000, 3, 2);
    assertTrue(nextWindow.overLimit());
    assertEquals(T0 + 60_000, nextWindow.resetAtMillis(), "4 then 3 rejected hits in two windows: no penalty, only a bucket full again");
    assertEquals(T0 + 120_000, HeapStateBuffer.expiresAt(s.bytes()));
  }
}
