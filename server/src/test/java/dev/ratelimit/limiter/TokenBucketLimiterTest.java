package dev.ratelimit.limiter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The token bucket of the provider's second-generation plans. */
class TokenBucketLimiterTest {
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

  @Test
  void invalidParametersAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> new TokenBucketLimiter(1, 0, Duration.ofSeconds(1)));
    assertThrows(IllegalArgumentException.class, () -> new TokenBucketLimiter(1, 1, Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> new TokenBucketLimiter(-1, 1, Duration.ofSeconds(1)));
  }
}
