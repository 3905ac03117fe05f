package dev.ratelimit.limiter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The token bucket of the provider's second-generation plans. */
class TokenBucketLimiterTest {
  /** Pro III: 1,000 initial tokens, capacity 100, 100 refilled per second. */
  private static final TokenBucketLimiter PRO_THREE = new TokenBucketLimiter(1_000, 100, Duration.ofSeconds(1));

  private static final long T0 = 1_767_225_600_300L; // deliberately not on a second boundary

  /** Pro II: 500 initial, capacity 500, 50 refilled per second. */
  private final TokenBucketLimiter proTwo = new TokenBucketLimiter(500, 50, Duration.ofSeconds(1));
  private final HeapStateBuffer state = new HeapStateBuffer(new byte[proTwo.stateSize(0, 500)]);

  private Verdict take(long at, long hits) {
    return proTwo.apply(state, at, hits, 500);
  }

  private int admittedOneByOne(long at, int attempts) {
    int admitted = 0;
    for (int i = 0; i < attempts; i++) {
      if (!take(at, 1).overLimit()) {
        admitted++;
      }
    }
    return admitted;
  }

  @Test
  void proTwoAdmitsABurstOf500ThenFiftyPerSecond() {
    assertEquals(500, admittedOneByOne(T0, 600), "the whole burst at once, nothing more");
    for (int second = 1; second <= 20; second++) {
      assertEquals(0, admittedOneByOne(T0 + second * 1000L - 1, 10), "nothing before the refill, second " + second);
      assertEquals(50, admittedOneByOne(T0 + second * 1000L, 80), "50 refilled at second " + second);
    }
  }

  @Test
  void headersReportTokensLeftAndTheNextRefill() {
    Verdict v = take(T0, 120);
    assertFalse(v.overLimit());
    assertEquals(380, v.remaining(), "tokens left");
    assertEquals(120, v.current(), "capacity - tokens");
    assertEquals(500, v.limit());
    assertEquals(T0 + 1_000, v.resetAtMillis(), "the next refill");
    Verdict later = take(T0 + 2_500, 0);
    assertEquals(480, later.remaining(), "two refills of 50");
    assertEquals(T0 + 3_000, later.resetAtMillis());
  }

  @Test
  void neverRefillsAboveCapacity() {
    take(T0, 10);
    Verdict v = take(T0 + 3_600_000, 0);
    assertEquals(500, v.remaining());
    assertEquals(0, v.current());
    assertEquals(T0 + 3_600_000, v.resetAtMillis(), "a full bucket has nothing to wait for");
    assertEquals(500, admittedOneByOne(T0 + 3_600_000, 501));
  }

  @Test
  void aRejectedRequestTakesNoTokens() {
    take(T0, 490);
    assertTrue(take(T0, 11).overLimit());
    Verdict v = take(T0, 10);
    assertFalse(v.overLimit());
    assertEquals(0, v.remaining());
  }

  @Test
  void aBucketStartingEmptyFillsFromItsFirstRequest() {
    TokenBucketLimiter empty = new TokenBucketLimiter(0, 10, Duration.ofSeconds(1));
    HeapStateBuffer s = new HeapStateBuffer(new byte[empty.stateSize(0, 100)]);
    Verdict first = empty.apply(s, T0, 1, 100);
    assertTrue(first.overLimit());
    assertEquals(T0 + 1_000, first.resetAtMillis(), "the refill clock started with the rejected request");
    assertFalse(empty.apply(s, T0 + 1_000, 10, 100).overLimit());
    assertTrue(empty.apply(s, T0 + 1_000, 1, 100).overLimit());
  }

  @Test
  void checkOnlyOnANewKeyLeavesNoState() {
    Verdict v = take(T0, 0);
    assertEquals(500, v.remaining());
    assertEquals(0, HeapStateBuffer.expiresAt(state.bytes()));
  }

  @Test
  void expiresWhenTheBucketIsFullAgain() {
    take(T0, 120);
    assertEquals(T0 + 3_000, HeapStateBuffer.expiresAt(state.bytes()), "120 missing = 3 refills of 50");
  }

  @Test
  void aLoweredCapacityClampsTheTokens() {
    take(T0, 100);
    Verdict v = proTwo.apply(state, T0 + 1, 0, 200);
    assertEquals(200, v.remaining());
    assertEquals(0, v.current());
  }

  @Test
  void aClockSteppingBackRefillsNothing() {
    take(T0 + 5_000, 500);
    assertTrue(take(T0, 1).overLimit());
    assertEquals(50, admittedOneByOne(T0 + 6_000, 60));
  }

  private static HeapStateBuffer newState(Limiter limiter) {
    return new HeapStateBuffer(new byte[limiter.stateSize(0, 0)]);
  }

  /** Tokens a Pro III bucket holds at {@code at}, read without taking any. */
  private static long proThreeTokens(HeapStateBuffer s, long at) {
    return PRO_THREE.apply(s, at, 0, 100).remaining();
  }

  @Test
  void proThreeStartsAtTenTimesItsCapacityAndSpendsDown() {
    HeapStateBuffer s = newState(PRO_THREE);
    Verdict first = PRO_THREE.apply(s, T0, 1, 100);
    assertFalse(first.overLimit());
    assertEquals(999, first.remaining(), "the initial tokens, not the capacity");
    assertEquals(-899, first.current(), "capacity − tokens: negative while above the capacity");
    assertEquals(100, first.limit(), "the capacity stays the limit");
    assertEquals(T0, first.resetAtMillis(), "at or above the capacity there is no refill to wait for");
    int admitted = 1;
    while (!PRO_THREE.apply(s, T0 + 10, 1, 100).overLimit()) {
      admitted++;
    }
    assertEquals(1_000, admitted, "the 1,001st request is the first rejected");
    Verdict rejected = PRO_THREE.apply(s, T0 + 10, 1, 100);
    assertEquals(0, rejected.remaining());
    assertEquals(T0 + 1_000, rejected.resetAtMillis(), "the next refill");
  }

  @Test
  void aRefillNeverTakesTheBucketAboveItsCapacityNorRemovesTokensAboveIt() {
    HeapStateBuffer s = newState(PRO_THREE);
    PRO_THREE.apply(s, T0, 500, 100);
    assertEquals(500, proThreeTokens(s, T0 + 1_000), "a refill that finds 500 adds nothing and removes nothing");
    assertEquals(500, proThreeTokens(s, T0 + 4_999));
    assertFalse(PRO_THREE.apply(s, T0 + 4_999, 450, 100).overLimit());
    assertEquals(50, proThreeTokens(s, T0 + 4_999));
    assertEquals(100, proThreeTokens(s, T0 + 5_000), "50 + 100 refilled, capped at the capacity");
    assertEquals(100, proThreeTokens(s, T0 + 13_999), "and nothing more however long it waits, short of forgetting");
  }

  @Test
  void anIdleBucketIsNewExactlyAtItsForgetTime() {
    HeapStateBuffer s = newState(PRO_THREE);
    assertFalse(PRO_THREE.apply(s, T0, 1_000, 100).overLimit());
    long forget = T0 + 10_000; // 1,000 tokens at 100 per second, uncapped
    assertEquals(forget, HeapStateBuffer.expiresAt(s.bytes()), "the sweeper may drop it then, not before");
    assertEquals(100, proThreeTokens(s, forget - 1), "1 ms before: refilled to the capacity only");
    assertTrue(PRO_THREE.apply(s, forget - 1, 101, 100).overLimit());
    assertEquals(1_000, proThreeTokens(s, forget), "at the forget time: a new bucket with its initial tokens");
    assertFalse(PRO_THREE.apply(s, forget, 1_000, 100).overLimit());
    assertTrue(PRO_THREE.apply(s, forget, 1, 100).overLimit());
  }

  @Test
  void spendingOneIntervalLaterDoesNotBringTheBurstBack() {
    // The abuse the forget time prevents: spend 899, wait one interval, get 1,000 again.
    HeapStateBuffer s = newState(PRO_THREE);
    PRO_THREE.apply(s, T0, 899, 100);
    assertEquals(101, proThreeTokens(s, T0 + 1_000), "101 left: above the capacity, so the refill added nothing");
    assertEquals(T0 + 9_000, HeapStateBuffer.expiresAt(s.bytes()), "899 to earn back at 100 per second");
    assertEquals(101, proThreeTokens(s, T0 + 8_999));
    assertEquals(1_000, proThreeTokens(s, T0 + 9_000), "idle long enough to have earned the 899 back");
  }

  @Test
  void readsAndRejectionsNeverDelayTheBurstsReturnButTakingTokensDoes() {
    HeapStateBuffer s = newState(PRO_THREE);
    PRO_THREE.apply(s, T0, 1_000, 100);
    for (long at = T0 + 1_000; at < T0 + 10_000; at += 1_000) {
      assertEquals(100, proThreeTokens(s, at));
      assertTrue(PRO_THREE.apply(s, at, 500, 100).overLimit());
    }
    assertEquals(1_000, proThreeTokens(s, T0 + 10_000), "reads and rejections left the forget time alone");
    HeapStateBuffer active = newState(PRO_THREE);
    PRO_THREE.apply(active, T0, 1_000, 100);
    assertFalse(PRO_THREE.apply(active, T0 + 9_999, 1, 100).overLimit(), "99 left, interval started at 9 s");
    assertEquals(100, proThreeTokens(active, T0 + 18_999), "idle again from 99 tokens: 901 to earn, 10 intervals");
    assertEquals(1_000, proThreeTokens(active, T0 + 19_000));
  }

  @Test
  void withInitialBelowCapacityAnIdleBucketRestartsAtItsInitialTokensOnceFull() {
    TokenBucketLimiter slowStart = new TokenBucketLimiter(0, 10, Duration.ofSeconds(1));
    HeapStateBuffer s = newState(slowStart);
    assertTrue(slowStart.apply(s, T0, 1, 100).overLimit(), "the first request starts the refill clock");
    assertEquals(T0 + 10_000, HeapStateBuffer.expiresAt(s.bytes()), "full at 100 after 10 refills");
    assertEquals(90, slowStart.apply(s, T0 + 9_999, 0, 100).remaining());
    assertEquals(0, slowStart.apply(s, T0 + 10_000, 0, 100).remaining(), "forgotten as it became full: a new bucket");
  }

  /**
   * The sweeper removes a state once its expiry has come; the limiter must already treat such a state as new, so the
   * answer does not depend on whether the sweeper ran. Checked along random histories of four buckets.
   */
  @Test
  void aStateTheSweeperMayRemoveDecidesExactlyAsNoStateAtAll() {
    TokenBucketLimiter[] limiters = {PRO_THREE, proTwo, new TokenBucketLimiter(0, 10, Duration.ofSeconds(1)),
        new TokenBucketLimiter(5_000, 500, Duration.ofMillis(250))};
    long[] capacities = {100, 500, 100, 500};
    Random random = new Random(12);
    int compared = 0;
    for (int b = 0; b < limiters.length; b++) {
      TokenBucketLimiter limiter = limiters[b];
      HeapStateBuffer s = newState(limiter);
      long now = T0;
      for (int step = 0; step < 5_000; step++) {
        now += random.nextInt(4) == 0 ? random.nextInt(20_000) : random.nextInt(300);
        long hits = random.nextInt(3) == 0 ? 0 : 1 + random.nextInt((int) capacities[b] * 3);
        if (HeapStateBuffer.expiresAt(s.bytes()) != 0 && HeapStateBuffer.expiresAt(s.bytes()) <= now) {
          HeapStateBuffer swept = newState(limiter);
          Verdict onSwept = limiter.apply(swept, now, hits, capacities[b]);
          assertEquals(onSwept, limiter.apply(s, now, hits, capacities[b]), limiter + " at step " + step);
          if (hits > 0) {
            assertTrue(Arrays.equals(swept.bytes(), s.bytes()), "the same state afterwards, step " + step);
          }
          compared++;
        } else {
          limiter.apply(s, now, hits, capacities[b]);
        }
      }
    }
    assertTrue(compared > 500, "histories long and idle enough to compare often: " + compared);
  }

  @Test
  void aLoweredCapacityClampsEvenTheInitialBurstAndARaisedOneKeepsIt() {
    HeapStateBuffer s = newState(PRO_THREE);
    PRO_THREE.apply(s, T0, 100, 100);
    assertEquals(900, PRO_THREE.apply(s, T0 + 1, 0, 250).remaining(), "a raised capacity keeps the burst");
    assertEquals(900, PRO_THREE.apply(s, T0 + 2, 0, 100).remaining());
    Verdict lowered = PRO_THREE.apply(s, T0 + 3, 0, 50);
    assertEquals(50, lowered.remaining(), "a lowered capacity clamps at once, burst included");
    assertEquals(0, lowered.current());
    assertFalse(PRO_THREE.apply(s, T0 + 4, 50, 50).overLimit());
    assertTrue(PRO_THREE.apply(s, T0 + 5, 1, 100).overLimit(), "raising it again brings nothing back");
    assertEquals(100, PRO_THREE.apply(s, T0 + 1_000, 0, 100).remaining(), "refills up to the capacity in force");
  }

  @Test
  void noBucketKeepsMoreThanANewOneWouldStartWith() {
    HeapStateBuffer s = newState(PRO_THREE);
    PRO_THREE.apply(s, T0, 100, 100);
    TokenBucketLimiter reloaded = new TokenBucketLimiter(200, 100, Duration.ofSeconds(1));
    assertEquals(200, reloaded.apply(s, T0 + 1, 0, 100).remaining(), "initial_tokens lowered from 1,000 to 200");
  }

  @Test
  void aForgetTimeBeyondTwoToThe53MillisIsNever() {
    TokenBucketLimiter huge = new TokenBucketLimiter(4_294_967_295L, 1, Duration.ofDays(1));
    HeapStateBuffer s = newState(huge);
    huge.apply(s, T0, 4_294_967_295L, 1);
    assertEquals(TokenBucketLimiter.NEVER, HeapStateBuffer.expiresAt(s.bytes()));
    assertEquals(1, huge.apply(s, TokenBucketLimiter.NEVER - 1, 0, 1).remaining());
  }

  @Test
  void invalidParametersAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> new TokenBucketLimiter(1, 0, Duration.ofSeconds(1)));
    assertThrows(IllegalArgumentException.class, () -> new TokenBucketLimiter(1, 1, Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> new TokenBucketLimiter(-1, 1, Duration.ofSeconds(1)));
  }

  @Test
  void theInitialTokensAndTheRefillDefineTheLimiter() {
    TokenBucketLimiter bucket = new TokenBucketLimiter(10, 2, Duration.ofSeconds(1));
    assertEquals(bucket, new TokenBucketLimiter(10, 2, Duration.ofSeconds(1)));
    assertEquals(bucket.hashCode(), new TokenBucketLimiter(10, 2, Duration.ofSeconds(1)).hashCode());
    assertNotEquals(bucket, new TokenBucketLimiter(11, 2, Duration.ofSeconds(1)));
    assertNotEquals(bucket, new TokenBucketLimiter(10, 3, Duration.ofSeconds(1)));
    assertNotEquals(bucket, new TokenBucketLimiter(10, 2, Duration.ofSeconds(2)));
    assertEquals("token_bucket(initial 10, refill 2 per 1000 ms)", bucket.toString());
    TokenBucketLimiter smallest = new TokenBucketLimiter(0, 1, Duration.ofMillis(1));
    HeapStateBuffer s = new HeapStateBuffer(new byte[smallest.stateSize(0, 5)]);
    assertEquals(0, smallest.apply(s, T0, 0, 5).remaining(), "the smallest parameters are accepted: starts empty");
  }
}
