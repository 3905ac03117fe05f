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

  /** A factor so large that the threshold saturates: the penalty never starts. */
  private static final BigDecimal NEVER = new BigDecimal("1e30");

  @Test
  void aPenaltyThatNeverStartsDecidesAndRefundsExactlyLikeTheAlgorithmItWraps() {
    // Every algorithm, and sliding windows with 1-, 2- and 4-byte slot counters: the penalty's own fields sit between
    // the expiry and the wrapped state, which must see its bytes exactly where it would alone.
    Limiter[] wrapped = {new SlidingWindowLimiter(Duration.ofSeconds(10), 10), new FixedWindowLimiter(Duration.ofSeconds(10)),
        new TokenBucketLimiter(5, 3, Duration.ofSeconds(2))};
    for (Limiter inner : wrapped) {
      for (long limit : new long[] {10, 1_000, 100_000}) {
        PenaltyLimiter penalty = new PenaltyLimiter(inner, NEVER, Duration.ofSeconds(60), Duration.ofSeconds(10));
        HeapStateBuffer alone = new HeapStateBuffer(new byte[inner.stateSize(0, limit)]);
        HeapStateBuffer wrappedState = new HeapStateBuffer(new byte[penalty.stateSize(0, limit)]);
        long hitsUnit = Math.max(1, limit / 7);
        for (int step = 0; step < 60; step++) {
          long at = T0 + step * 700L;
          long hits = (step % 5) * hitsUnit; // 0 (a read) up to 4/7 of the limit: some calls are rejected
          String what = inner + ", limit " + limit + ", step " + step;
          Verdict expected = inner.apply(alone, at, hits, limit);
          assertEquals(expected, penalty.apply(wrappedState, at, hits, limit), what);
          if (!expected.overLimit() && step % 3 == 0) {
            inner.refund(alone, at, hits, limit);
            penalty.refund(wrappedState, at, hits, limit);
            assertEquals(inner.apply(alone, at, 0, limit), penalty.apply(wrappedState, at, 0, limit),
                what + ", after a refund");
          }
        }
      }
    }
  }

  @Test
  void aRefundTakesBackAdmittedHitsButNeitherThePenaltyNorTheLifeOfTheState() {
    PenaltyLimiter firstRejection = new PenaltyLimiter(new FixedWindowLimiter(Duration.ofSeconds(10)), BigDecimal.ONE,
        Duration.ofSeconds(60), Duration.ofSeconds(10));
    HeapStateBuffer s = new HeapStateBuffer(new byte[firstRejection.stateSize(0, 2)]);
    firstRejection.apply(s, T0, 2, 2);
    assertTrue(firstRejection.apply(s, T0 + 1, 1, 2).overLimit(), "the first rejection starts a 60 s penalty");
    long expiry = HeapStateBuffer.expiresAt(s.bytes());
    assertEquals(T0 + 60_001, expiry);
    firstRejection.refund(s, T0, 2, 2);
    assertEquals(expiry, HeapStateBuffer.expiresAt(s.bytes()), "the window's refund does not shorten the penalty's state");
    Verdict during = firstRejection.apply(s, T0 + 2, 0, 2);
    assertTrue(during.overLimit(), "a refund does not lift the penalty");
    assertEquals(0, during.current(), "but the window's hits were taken back");
  }

  @Test
  void aPenaltyAndItsRejectedHitsSurviveTheWrappedCountersWidening() {
    // Threshold (2 - 1) × 10 = 10 rejected hits per 10 s; the sliding window's slots widen from 1 to 2 bytes.
    PenaltyLimiter sliding = new PenaltyLimiter(new SlidingWindowLimiter(Duration.ofSeconds(10), 10),
        new BigDecimal("2"), Duration.ofSeconds(60), Duration.ofSeconds(10));
    HeapStateBuffer narrow = new HeapStateBuffer(new byte[sliding.stateSize(0, 10)]);
    assertFalse(sliding.apply(narrow, T0, 10, 10).overLimit());
    assertTrue(sliding.apply(narrow, T0 + 1_000, 6, 10).overLimit(), "6 rejected hits: below the threshold");
    HeapStateBuffer wide = new HeapStateBuffer(new byte[sliding.stateSize(narrow.size(), 300)]);
    assertTrue(wide.size() > narrow.size());
    sliding.resize(narrow, wide);
    Verdict raised = sliding.apply(wide, T0 + 2_000, 0, 300);
    assertEquals(10, raised.current(), "the hits of second 0 still count");
    assertEquals(HeapStateBuffer.expiresAt(narrow.bytes()), HeapStateBuffer.expiresAt(wide.bytes()));
    // Lowered back to 10: 5 more rejected hits in the same window make 11, past the threshold.
    Verdict crossing = sliding.apply(wide, T0 + 3_000, 5, 10);
    assertTrue(crossing.overLimit());
    assertEquals(T0 + 63_000, crossing.resetAtMillis(), "the rejected hits counted before the widening still count");
    assertTrue(sliding.apply(wide, T0 + 30_000, 1, 300).overLimit(), "the penalty holds under any limit");
  }

  @Test
  void aPenaltyCountsInItsOwnCounterWhateverItsParametersAndEqualsTheSamePenalty() {
    Limiter minute = new SlidingWindowLimiter(Duration.ofMinutes(1), 60);
    PenaltyLimiter penalty = new PenaltyLimiter(minute, new BigDecimal("2"), Duration.ofSeconds(60),
        Duration.ofMinutes(1));
    // Keys embed the state shape: a rule that gains or loses a penalty starts a new counter (the layouts differ)...
    assertTrue(penalty.stateShape() != minute.stateShape());
    // ...while a reload that only changes the penalty's factor, duration or window keeps the counter.
    assertEquals(penalty.stateShape(), new PenaltyLimiter(minute, new BigDecimal("3"), Duration.ofSeconds(5),
        Duration.ofSeconds(10)).stateShape());
    assertTrue(penalty.stateShape() != new PenaltyLimiter(new SlidingWindowLimiter(Duration.ofMinutes(1), 30),
        BigDecimal.ONE, Duration.ofSeconds(60), Duration.ofMinutes(1)).stateShape(), "another window geometry");
    // A reload tells changed rules by equality: the same parameters are the same penalty, 2 and 2.00 alike.
    PenaltyLimiter same = new PenaltyLimiter(new SlidingWindowLimiter(Duration.ofMinutes(1), 60),
        new BigDecimal("2.00"), Duration.ofSeconds(60), Duration.ofMinutes(1));
    assertEquals(penalty, same);
    assertEquals(penalty.hashCode(), same.hashCode());
    for (PenaltyLimiter other : new PenaltyLimiter[] {
        new PenaltyLimiter(new FixedWindowLimiter(Duration.ofMinutes(1)), new BigDecimal("2"), Duration.ofSeconds(60),
            Duration.ofMinutes(1)),
        new PenaltyLimiter(minute, new BigDecimal("2.5"), Duration.ofSeconds(60), Duration.ofMinutes(1)),
        new PenaltyLimiter(minute, new BigDecimal("2"), Duration.ofSeconds(61), Duration.ofMinutes(1)),
        new PenaltyLimiter(minute, new BigDecimal("2"), Duration.ofSeconds(60), Duration.ofSeconds(61))}) {
      assertFalse(penalty.equals(other), other.toString());
    }
    assertFalse(penalty.equals(minute), "a penalty is not its bare algorithm");
    assertTrue(penalty.toString().contains(minute.toString()) && penalty.toString().contains("over factor 2"),
        "the admin /config page names the algorithm and the penalty: " + penalty);
  }
}
