package dev.ratelimit.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.limiter.FixedWindowLimiter;
import dev.ratelimit.limiter.PenaltyLimiter;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.limiter.StateBuffer;
import dev.ratelimit.limiter.TokenBucketLimiter;
import dev.ratelimit.limiter.Verdict;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The behaviour every {@link CounterStore} must have with the sliding window of docs/algorithms.md, whatever keeps the state.
 * Each store's test class extends it once, so the embedded and the Redis store pass the very same suite. Time is
 * explicit: stores must decide on the {@code nowMillis} given (the Redis store in its caller-time mode).
 */
public abstract class CounterStoreContract {
  protected static final long T0 = 1_767_225_600_000L; // 2026-01-01T00:00:00Z, a slot boundary
  protected static final SlidingWindowLimiter PER_MINUTE = new SlidingWindowLimiter(Duration.ofMinutes(1), 60);
  protected static final byte[] KEY = bytes("org-acme");

  protected CounterStore store;

  /** A new, empty store deciding on the times it is given. */
  protected abstract CounterStore openEmptyStore() throws Exception;

  /**
   * Asserts that the store drops {@code key}'s state once {@code expiresAtMillis} has passed, and not before
   * (checked at {@code nowMillis}, the time of the last hit).
   */
  protected abstract void assertStateExpiresAt(byte[] key, long nowMillis, long expiresAtMillis) throws Exception;

  protected static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @BeforeEach
  void openStore() throws Exception {
    store = openEmptyStore();
  }

  @AfterEach
  void closeStore() {
    if (store != null) {
      store.close();
    }
  }

  private Verdict hit(long at) {
    return store.apply(KEY, PER_MINUTE, at, 1, 60);
  }

  @Test
  public void theLimitIsEnforcedAndRemainingCountsDown() {
    for (int i = 0; i < 60; i++) {
      Verdict v = hit(T0 + i * 900L);
      assertFalse(v.overLimit(), "request " + (i + 1));
      assertEquals(i + 1, v.current());
      assertEquals(59 - i, v.remaining());
      assertEquals(60, v.limit());
    }
    Verdict v61 = hit(T0 + 59_999);
    assertTrue(v61.overLimit());
    assertEquals(60, v61.current());
    assertEquals(0, v61.remaining());
  }

  @Test
  public void admittedAgainExactlyWhenTheOldestSlotAgesOut() {
    for (int i = 0; i < 60; i++) {
      hit(T0 + 500);
    }
    long agesOut = T0 + 1_000 + 60_000;
    Verdict rejected = hit(agesOut - 1);
    assertTrue(rejected.overLimit());
    assertEquals(agesOut, rejected.resetAtMillis());
    Verdict v = hit(agesOut);
    assertFalse(v.overLimit());
    assertEquals(1, v.current());
  }

  @Test
  public void resetIsTheOldestNonEmptySlotsEndPlusTheWindow() {
    hit(T0 + 2_300);
    hit(T0 + 7_100);
    Verdict v = hit(T0 + 30_000);
    assertEquals(T0 + 63_000, v.resetAtMillis());
    assertEquals((T0 + 63_000) / 1000, v.resetEpochSeconds());
    Verdict later = store.apply(KEY, PER_MINUTE, T0 + 63_000, 0, 60);
    assertEquals(2, later.current(), "the first hit aged out");
    assertEquals(T0 + 68_000, later.resetAtMillis());
  }

  @Test
  public void rejectedRequestsAreNotRecordedSoThereIsNoLockout() {
    for (int i = 0; i < 60; i++) {
      hit(T0);
    }
    for (int i = 0; i < 500; i++) {
      assertTrue(hit(T0 + 10_000 + i * 80L).overLimit());
    }
    Verdict v = hit(T0 + 61_000);
    assertFalse(v.overLimit(), "recovery when the first slot ages out");
    assertEquals(1, v.current());
  }

  @Test
  public void zeroHitsOnlyPeeksAndAPeekOrRejectionOfANewKeyStoresNothing() {
    assertEquals(0, store.apply(KEY, PER_MINUTE, T0, 0, 60).current());
    assertTrue(store.apply(KEY, PER_MINUTE, T0, 61, 60).overLimit());
    assertEquals(0, store.size(), "nothing stored for a peek or a rejection");
    hit(T0 + 100);
    hit(T0 + 200);
    Verdict peek = store.apply(KEY, PER_MINUTE, T0 + 300, 0, 60);
    assertFalse(peek.overLimit());
    assertEquals(2, peek.current());
    assertEquals(2, store.apply(KEY, PER_MINUTE, T0 + 400, 0, 60).current(), "peeking changed nothing");
  }

  @Test
  public void loweringTheLimitGivesNegativeRemaining() {
    for (int i = 0; i < 10; i++) {
      hit(T0 + i);
    }
    Verdict lowered = store.apply(KEY, PER_MINUTE, T0 + 1_000, 1, 4);
    assertTrue(lowered.overLimit());
    assertEquals(10, lowered.current());
    assertEquals(-6, lowered.remaining());
    assertEquals(4, lowered.limit());
    Verdict peek = store.apply(KEY, PER_MINUTE, T0 + 1_000, 0, 4);
    assertTrue(peek.overLimit(), "even a peek is over a limit already exceeded");
    assertEquals(-6, peek.remaining());
    Verdict raisedAgain = store.apply(KEY, PER_MINUTE, T0 + 1_000, 1, 60);
    assertFalse(raisedAgain.overLimit());
    assertEquals(11, raisedAgain.current());
  }

  @Test
  public void hugeHitsAreRejectedWithoutOverflowOrRecording() {
    hit(T0);
    Verdict v = store.apply(KEY, PER_MINUTE, T0 + 1, Long.MAX_VALUE, 60);
    assertTrue(v.overLimit());
    assertEquals(1, v.current());
    Verdict fits = store.apply(KEY, PER_MINUTE, T0 + 2, 59, 60);
    assertFalse(fits.overLimit(), "hits that exactly fill the limit are admitted");
    assertEquals(60, fits.current());
  }

  @Test
  public void aClockSteppingBackCountsIntoTheNewestSlot() {
    hit(T0 + 5_000);
    Verdict back = hit(T0 + 2_000);
    assertFalse(back.overLimit());
    assertEquals(2, back.current());
    assertEquals(T0 + 66_000, back.resetAtMillis(), "both hits are in the newest slot [5 s, 6 s)");
    assertEquals(2, store.apply(KEY, PER_MINUTE, T0 + 65_999, 0, 60).current());
    assertEquals(0, store.apply(KEY, PER_MINUTE, T0 + 66_000, 0, 60).current());
  }

  @Test
  public void countersOfDifferentKeysAreIndependent() {
    for (int i = 0; i < 3; i++) {
      store.apply(bytes("a"), PER_MINUTE, T0, 1, 3);
    }
    assertTrue(store.apply(bytes("a"), PER_MINUTE, T0, 1, 3).overLimit());
    assertFalse(store.apply(bytes("b"), PER_MINUTE, T0, 1, 3).overLimit());
    assertEquals(1, store.apply(bytes("b"), PER_MINUTE, T0, 0, 3).current());
  }

  @Test
  public void aBatchDecidesLikeTheSameCallsOneAfterTheOther() {
    SlidingWindowLimiter perSecond = new SlidingWindowLimiter(Duration.ofSeconds(1), 10);
    for (int i = 0; i < 2; i++) {
      store.apply(bytes("full"), PER_MINUTE, T0, 1, 2);
    }
    List<CounterStore.Op> ops = List.of(
        new CounterStore.Op(bytes("plan"), PER_MINUTE, 1, 2),
        new CounterStore.Op(bytes("full"), PER_MINUTE, 1, 2),
        new CounterStore.Op(bytes("plan"), PER_MINUTE, 1, 2),
        new CounterStore.Op(bytes("plan"), PER_MINUTE, 1, 2),
        new CounterStore.Op(bytes("burst"), perSecond, 3, 5));
    CounterStore.Result[] results = store.applyAll(ops, T0 + 10);
    assertEquals(5, results.length);
    for (CounterStore.Result r : results) {
      assertNull(r.failure());
    }
    assertFalse(results[0].verdict().overLimit());
    assertTrue(results[1].verdict().overLimit());
    assertFalse(results[2].verdict().overLimit());
    assertEquals(2, results[2].verdict().current(), "the second op on a key sees the first");
    assertTrue(results[3].verdict().overLimit());
    assertEquals(3, results[4].verdict().current());
    assertEquals(T0 + 1_100, results[4].verdict().resetAtMillis(), "slot [0, 100 ms) ages out after 1.1 s");
    assertEquals(2, store.apply(bytes("plan"), PER_MINUTE, T0 + 20, 0, 2).current());
  }

  private static final CounterStore.Batch COUNT_NOWHERE = new CounterStore.Batch(true, false);

  private long current(byte[] key, dev.ratelimit.limiter.Limiter limiter, long at, long limit) {
    return store.apply(key, limiter, at, 0, limit).current();
  }

  @Test
  public void aRejectedRequestCountsNowhereAcrossEveryAlgorithm() {
    FixedWindowLimiter tenSeconds = new FixedWindowLimiter(Duration.ofSeconds(10));
    TokenBucketLimiter bucket = new TokenBucketLimiter(10, 1, Duration.ofSeconds(1));
    store.apply(bytes("blocked"), PER_MINUTE, T0, 1, 1); // the firewall's one allowed request is used
    List<CounterStore.Op> ops = List.of(
        new CounterStore.Op(bytes("plan"), PER_MINUTE, 1, 60),
        new CounterStore.Op(bytes("fixed"), tenSeconds, 2, 100),
        new CounterStore.Op(bytes("blocked"), PER_MINUTE, 1, 1),
        new CounterStore.Op(bytes("bucket"), bucket, 3, 10));
    CounterStore.Result[] results = store.applyAll(ops, T0 + 10, COUNT_NOWHERE);
    assertFalse(results[0].verdict().overLimit());
    assertEquals(1, results[0].verdict().current(), "each descriptor still reports its own decision");
    assertTrue(results[2].verdict().overLimit());
    assertFalse(results[3].verdict().overLimit());
    assertEquals(0, current(bytes("plan"), PER_MINUTE, T0 + 20, 60), "the plan kept nothing");
    assertEquals(0, current(bytes("fixed"), tenSeconds, T0 + 20, 100), "the fixed window kept nothing");
    assertEquals(0, current(bytes("bucket"), bucket, T0 + 20, 10), "the bucket got its tokens back");
    assertEquals(1, current(bytes("blocked"), PER_MINUTE, T0 + 20, 1), "the rejected hit was never recorded");

    CounterStore.Result[] independent = store.applyAll(ops, T0 + 30);
    assertTrue(independent[2].verdict().overLimit());
    assertEquals(1, current(bytes("plan"), PER_MINUTE, T0 + 40, 60), "envoyproxy/ratelimit's behaviour on request");
  }

  @Test
  public void aShadowRuleOverItsLimitRejectsNothingSoTheOthersKeepTheirHits() {
    store.apply(bytes("shadow"), PER_MINUTE, T0, 1, 1);
    CounterStore.Result[] results = store.applyAll(List.of(
        new CounterStore.Op(bytes("plan"), PER_MINUTE, 1, 60),
        new CounterStore.Op(bytes("shadow"), PER_MINUTE, 1, 1, false)), T0 + 10, COUNT_NOWHERE);
    assertTrue(results[1].verdict().overLimit(), "reported over its limit");
    assertEquals(1, current(bytes("plan"), PER_MINUTE, T0 + 20, 60));
  }

  @Test
  public void aRejectedRequestIsTakenBackFromTheSlotItWasCountedIn() {
    for (int s = 0; s < 5; s++) {
      store.apply(bytes("plan"), PER_MINUTE, T0 + s * 1_000L, 1, 60);
    }
    store.apply(bytes("blocked"), PER_MINUTE, T0, 1, 1);
    store.applyAll(List.of(
        new CounterStore.Op(bytes("plan"), PER_MINUTE, 2, 60),
        new CounterStore.Op(bytes("blocked"), PER_MINUTE, 1, 1)), T0 + 5_500, COUNT_NOWHERE);
    Verdict after = store.apply(bytes("plan"), PER_MINUTE, T0 + 5_600, 0, 60);
    assertEquals(5, after.current());
    assertEquals(T0 + 61_000, after.resetAtMillis(), "the oldest hit is still the one of second 0");
    assertEquals(4, current(bytes("plan"), PER_MINUTE, T0 + 61_000, 60), "second 0 aged out, seconds 1-4 remain");
    assertEquals(0, current(bytes("plan"), PER_MINUTE, T0 + 65_000, 60), "nothing was left in second 5");
  }

  @Test
  public void raisingALimitPastTheCounterWidthKeepsEveryCount() {
    assertFalse(store.apply(KEY, PER_MINUTE, T0, 200, 250).overLimit(), "200 hits in a one-byte counter");
    Verdict raised = store.apply(KEY, PER_MINUTE, T0 + 1_000, 150, 300);
    assertTrue(raised.overLimit(), "200 + 150 > 300: the 200 were kept when the counter widened");
    assertEquals(200, raised.current());
    assertFalse(store.apply(KEY, PER_MINUTE, T0 + 1_000, 100, 300).overLimit());
    assertTrue(store.apply(KEY, PER_MINUTE, T0 + 1_000, 1, 300).overLimit());
    Verdict huge = store.apply(KEY, PER_MINUTE, T0 + 2_000, 70_000, 1_000_000);
    assertFalse(huge.overLimit(), "two-byte slots widen to four bytes");
    assertEquals(70_300, huge.current());
    Verdict lowered = store.apply(KEY, PER_MINUTE, T0 + 3_000, 1, 250);
    assertTrue(lowered.overLimit());
    assertEquals(250 - 70_300, lowered.remaining(), "a lowered limit sees every count (remaining is negative)");
    assertEquals(70_100, current(KEY, PER_MINUTE, T0 + 61_000, 250), "second 0's 200 age out on time after widening");
    assertEquals(0, current(KEY, PER_MINUTE, T0 + 63_000, 250));
  }

  @Test
  public void stateExpiresWhenItsNewestHitAgesOut() throws Exception {
    hit(T0 + 500);
    hit(T0 + 3_200); // newest slot [3 s, 4 s) ages out at 64 s
    assertStateExpiresAt(KEY, T0 + 3_200, T0 + 64_000);
    Verdict after = store.apply(KEY, PER_MINUTE, T0 + 64_000, 0, 60);
    assertEquals(0, after.current());
    assertEquals(T0 + 64_000, after.resetAtMillis(), "an empty window resets now");
  }

  @Test
  public void eightThreadsNeverAdmitMoreThanTheLimitWithinAnyWindow() throws Exception {
    // 8 threads hit one key concurrently at the same instant; between rounds a barrier moves the clock 3.7 s on.
    long limit = 200;
    int rounds = 40;
    AtomicLong clock = new AtomicLong(T0);
    long[] admittedPerRound = new long[rounds];
    AtomicLong admittedThisRound = new AtomicLong();
    int[] round = {0};
    CyclicBarrier barrier = new CyclicBarrier(8, () -> {
      admittedPerRound[round[0]++] = admittedThisRound.getAndSet(0);
      clock.addAndGet(3_700);
    });
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<?>> tasks = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        tasks.add(pool.submit(() -> {
          for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < 40; i++) {
              if (!store.apply(KEY, PER_MINUTE, clock.get(), 1, limit).overLimit()) {
                admittedThisRound.incrementAndGet();
              }
            }
            barrier.await(60, TimeUnit.SECONDS);
          }
          return null;
        }));
      }
      for (Future<?> task : tasks) {
        task.get(120, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    long total = 0;
    for (int end = 0; end < rounds; end++) {
      long inWindow = 0;
      for (int r = end; r >= 0 && (end - r) * 3_700L < 60_000; r--) {
        inWindow += admittedPerRound[r];
      }
      assertTrue(inWindow <= limit, "60 s ending at round " + end + " admitted " + inWindow);
      total += admittedPerRound[end];
    }
    assertEquals(limit, admittedPerRound[0], "the first round fills the limit exactly");
    assertTrue(total >= 2 * limit, "windows keep freeing: admitted " + total + " in " + rounds * 3.7 + " s");
  }

  /** Limits whose new keys get 1-, 2- and 4-byte slot counters: each the largest of its width, then one above. */
  private static final long[] LIMITS_OF_EVERY_WIDTH = {255, 65_535, 65_536, 4_000_000};

  @Test
  public void slidingWindowsOfEveryCounterWidthAdmitExactlyTheLimitInOneSlot() {
    for (long limit : LIMITS_OF_EVERY_WIDTH) {
      byte[] key = bytes("width-" + limit);
      assertFalse(store.apply(key, PER_MINUTE, T0 + 200, limit - 1, limit).overLimit(), "limit " + limit);
      Verdict last = store.apply(key, PER_MINUTE, T0 + 300, 1, limit);
      assertFalse(last.overLimit(), "limit " + limit + ": the last hit fills the slot's counter to the limit");
      assertEquals(limit, last.current());
      assertEquals(0, last.remaining());
      Verdict over = store.apply(key, PER_MINUTE, T0 + 59_999, 1, limit);
      assertTrue(over.overLimit(), "limit " + limit);
      assertEquals(limit, over.current(), "limit " + limit + ": the rejection was not recorded");
      assertEquals(T0 + 61_000, over.resetAtMillis());
      Verdict freed = store.apply(key, PER_MINUTE, T0 + 61_000, 1, limit);
      assertFalse(freed.overLimit(), "limit " + limit + ": second 0 aged out");
      assertEquals(1, freed.current());
    }
  }

  @Test
  public void slidingWindowsOfEveryCounterWidthSumTheirSlots() {
    for (long limit : LIMITS_OF_EVERY_WIDTH) {
      byte[] key = bytes("slots-" + limit);
      long perSlot = limit / 4;
      for (int s = 0; s < 4; s++) {
        assertFalse(store.apply(key, PER_MINUTE, T0 + s * 15_000L, perSlot, limit).overLimit(), "limit " + limit);
      }
      long rest = limit - 4 * perSlot;
      assertEquals(4 * perSlot, current(key, PER_MINUTE, T0 + 59_000, limit), "limit " + limit);
      assertTrue(store.apply(key, PER_MINUTE, T0 + 59_000, rest + 1, limit).overLimit(), "limit " + limit);
      assertEquals(3 * perSlot, current(key, PER_MINUTE, T0 + 61_000, limit), "limit " + limit + ": slot 0 aged");
      assertEquals(perSlot, current(key, PER_MINUTE, T0 + 105_999, limit), "limit " + limit + ": only slot 45 s left");
      assertEquals(0, current(key, PER_MINUTE, T0 + 106_000, limit), "limit " + limit + ": all aged out");
    }
  }

  /** The largest limit a policy can set ({@code PolicyLoader.MAX_LIMIT}): a 4-byte slot counter full to its last value. */
  private static final long CEILING = 0xFFFF_FFFFL;

  @Test
  public void aSlidingWindowCountsUpToTheCounterCeilingInOneSlotAndAcrossSlots() {
    byte[] oneSlot = bytes("ceiling-one-slot");
    Verdict full = store.apply(oneSlot, PER_MINUTE, T0, CEILING, CEILING);
    assertFalse(full.overLimit(), "the whole ceiling in one call and one slot");
    assertEquals(CEILING, full.current());
    assertEquals(0, full.remaining());
    Verdict over = store.apply(oneSlot, PER_MINUTE, T0 + 1_000, 1, CEILING);
    assertTrue(over.overLimit(), "no counter wraps around to admit more");
    assertEquals(CEILING, over.current());

    byte[] twoSlots = bytes("ceiling-two-slots");
    assertFalse(store.apply(twoSlots, PER_MINUTE, T0, CEILING - 1, CEILING).overLimit());
    Verdict last = store.apply(twoSlots, PER_MINUTE, T0 + 30_000, 1, CEILING);
    assertFalse(last.overLimit(), "the slots' total reaches the ceiling");
    assertEquals(CEILING, last.current());
    assertTrue(store.apply(twoSlots, PER_MINUTE, T0 + 30_000, 1, CEILING).overLimit());
    assertEquals(1, current(twoSlots, PER_MINUTE, T0 + 61_000, CEILING), "second 0 aged out, second 30 counts");
  }

  @Test
  public void aFixedWindowCountsUpToTheCeilingAndStartsAfreshAfterAnIdleGap() {
    FixedWindowLimiter perMinute = new FixedWindowLimiter(Duration.ofMinutes(1));
    assertFalse(store.apply(KEY, perMinute, T0, CEILING - 1, CEILING).overLimit());
    Verdict full = store.apply(KEY, perMinute, T0 + 1, 1, CEILING);
    assertFalse(full.overLimit());
    assertEquals(CEILING, full.current());
    Verdict over = store.apply(KEY, perMinute, T0 + 2, CEILING, CEILING);
    assertTrue(over.overLimit());
    assertEquals(CEILING, over.current(), "the rejection was not recorded");
    Verdict later = store.apply(KEY, perMinute, T0 + 5 * 60_000, CEILING, CEILING);
    assertFalse(later.overLimit(), "five windows later the whole ceiling is available");
    assertEquals(CEILING, later.current());
  }

  @Test
  public void aPenaltyCountsRejectedHitsBeyondTheCeilingWithoutOverflow() {
    // Over factor 2 at the ceiling: more than 2^32 - 1 rejected hits within one window start the penalty.
    PenaltyLimiter penalised = new PenaltyLimiter(PER_MINUTE, BigDecimal.valueOf(2), Duration.ofMinutes(5),
        Duration.ofMinutes(1));
    assertFalse(store.apply(KEY, penalised, T0, CEILING, CEILING).overLimit());
    Verdict belowThreshold = store.apply(KEY, penalised, T0 + 1, CEILING, CEILING);
    assertTrue(belowThreshold.overLimit());
    assertEquals(T0 + 61_000, belowThreshold.resetAtMillis(), "2^32 - 1 rejected hits, not more than the threshold: "
        + "no penalty, the window's own reset");
    Verdict crossing = store.apply(KEY, penalised, T0 + 2, 1, CEILING);
    assertTrue(crossing.overLimit());
    assertEquals(T0 + 2 + 300_000, crossing.resetAtMillis(), "one more rejected hit in the same window: the penalty");
    assertTrue(store.apply(KEY, penalised, T0 + 61_000, 1, CEILING).overLimit(), "the window freed, the penalty holds");
  }

  @Test
  public void aFullWindowIdleForLongerThanTheWindowStartsAfresh() {
    // Gaps of one window plus one slot and more, around multiples of the ring of 61 slots: every old slot must go,
    // including the one a ring of 60 would have missed (121 s after second 0 is its slot again).
    long[] gaps = {61_000, 62_000, 120_000, 121_000, 122_000, 182_000, 3_600_000};
    for (long limit : new long[] {60, 1_000, 100_000}) {
      for (long gap : gaps) {
        byte[] key = bytes("idle-" + limit + "-" + gap);
        assertFalse(store.apply(key, PER_MINUTE, T0 + 500, limit, limit).overLimit());
        assertTrue(store.apply(key, PER_MINUTE, T0 + 900, 1, limit).overLimit());
        Verdict peek = store.apply(key, PER_MINUTE, T0 + gap + 500, 0, limit);
        String what = "limit " + limit + ", idle " + gap + " ms";
        assertEquals(0, peek.current(), what);
        assertEquals(limit, peek.remaining(), what);
        assertEquals(T0 + gap + 500, peek.resetAtMillis(), what + ": an empty window resets now");
        Verdict again = store.apply(key, PER_MINUTE, T0 + gap + 500, limit, limit);
        assertFalse(again.overLimit(), what + ": the whole limit is available again");
        assertEquals(limit, again.current(), what);
      }
    }
  }

  @Test
  public void aCounterWidensFromOneToFourBytesAtOnceAndItsSlotsAgeOutOnTime() {
    assertFalse(store.apply(KEY, PER_MINUTE, T0, 100, 200).overLimit());
    assertFalse(store.apply(KEY, PER_MINUTE, T0 + 30_000, 50, 200).overLimit());
    Verdict widened = store.apply(KEY, PER_MINUTE, T0 + 40_000, 100_000, 100_150);
    assertFalse(widened.overLimit(), "one-byte slots widen straight to four bytes");
    assertEquals(100_150, widened.current());
    assertTrue(store.apply(KEY, PER_MINUTE, T0 + 40_000, 1, 100_150).overLimit(), "all three slots still count");
    assertEquals(100_050, current(KEY, PER_MINUTE, T0 + 61_000, 100_150), "second 0 ages out on time");
    assertEquals(100_000, current(KEY, PER_MINUTE, T0 + 91_000, 100_150), "second 30 too");
    assertEquals(0, current(KEY, PER_MINUTE, T0 + 101_000, 100_150));
  }

  @Test
  public void aCounterWidenedAfterItsWindowWasIdleKeepsNothingOld() {
    assertFalse(store.apply(KEY, PER_MINUTE, T0, 200, 200).overLimit());
    Verdict later = store.apply(KEY, PER_MINUTE, T0 + 125_000, 70_000, 70_000);
    assertFalse(later.overLimit(), "the 200 of second 0 aged out before the counter widened");
    assertEquals(70_000, later.current());
  }

  @Test
  public void aPenaltyOverASlidingWindowKeepsItsCountsAndPenaltyWhenTheCountersWiden() {
    PenaltyLimiter penalised = new PenaltyLimiter(PER_MINUTE, BigDecimal.ONE, Duration.ofMinutes(2),
        Duration.ofMinutes(1));
    assertFalse(store.apply(KEY, penalised, T0, 250, 250).overLimit());
    Verdict trigger = store.apply(KEY, penalised, T0 + 1_000, 1, 250);
    assertTrue(trigger.overLimit(), "the first rejection starts the penalty");
    Verdict raised = store.apply(KEY, penalised, T0 + 2_000, 1, 70_000);
    assertTrue(raised.overLimit(), "a raised limit widens the counters but keeps the penalty");
    assertEquals(T0 + 121_000, raised.resetAtMillis());
    Verdict after = store.apply(KEY, penalised, T0 + 121_000, 1, 70_000);
    assertFalse(after.overLimit());
    assertEquals(1, after.current(), "the 250 of second 0 aged out; the penalty's rejections were never counted");
  }

  @Test
  public void aFixedWindowIdleForSeveralWindowsStartsFromZero() {
    FixedWindowLimiter perMinute = new FixedWindowLimiter(Duration.ofMinutes(1));
    assertFalse(store.apply(KEY, perMinute, T0 + 1_000, 3, 3).overLimit());
    assertTrue(store.apply(KEY, perMinute, T0 + 2_000, 1, 3).overLimit());
    Verdict peek = store.apply(KEY, perMinute, T0 + 3 * 60_000 + 1_000, 0, 3);
    assertEquals(0, peek.current(), "three windows later");
    Verdict hit = store.apply(KEY, perMinute, T0 + 3 * 60_000 + 1_000, 3, 3);
    assertFalse(hit.overLimit());
    assertEquals(3, hit.current());
    assertEquals(T0 + 4 * 60_000, hit.resetAtMillis());
  }

  @Test
  public void aFixedWindowCountsPerEpochAlignedWindow() {
    FixedWindowLimiter perMinute = new FixedWindowLimiter(Duration.ofMinutes(1));
    for (int i = 0; i < 3; i++) {
      assertFalse(store.apply(KEY, perMinute, T0 + 10_000 + i, 1, 3).overLimit());
    }
    Verdict over = store.apply(KEY, perMinute, T0 + 59_999, 1, 3);
    assertTrue(over.overLimit());
    assertEquals(3, over.current());
    assertEquals(T0 + 60_000, over.resetAtMillis());
    Verdict next = store.apply(KEY, perMinute, T0 + 60_000, 1, 3);
    assertFalse(next.overLimit(), "a new window starts from zero");
    assertEquals(1, next.current());
    assertEquals(2, next.remaining());
  }

  @Test
  public void aTokenBucketRefillsPerIntervalUpToItsCapacity() {
    TokenBucketLimiter bucket = new TokenBucketLimiter(2, 1, Duration.ofSeconds(1));
    assertFalse(store.apply(KEY, bucket, T0, 1, 5).overLimit());
    Verdict second = store.apply(KEY, bucket, T0 + 10, 1, 5);
    assertFalse(second.overLimit());
    assertEquals(0, second.remaining(), "two initial tokens, both taken");
    Verdict empty = store.apply(KEY, bucket, T0 + 20, 1, 5);
    assertTrue(empty.overLimit());
    assertEquals(5, empty.current());
    assertEquals(T0 + 1_000, empty.resetAtMillis(), "the next refill");
    assertFalse(store.apply(KEY, bucket, T0 + 1_000, 1, 5).overLimit(), "one token refilled");
    Verdict peek = store.apply(KEY, bucket, T0 + 3_500, 0, 5);
    assertEquals(2, peek.remaining(), "two more intervals elapsed");
    assertEquals(3, peek.current());
    assertEquals(T0 + 4_000, peek.resetAtMillis());
    Verdict lowered = store.apply(KEY, bucket, T0 + 3_600, 0, 1);
    assertEquals(1, lowered.remaining(), "never above the capacity, here lowered to 1");
  }

  /** A small Pro III: 10 initial tokens, capacity 2, 2 refilled per second; forgotten 5 s after it is emptied. */
  private static final TokenBucketLimiter BURST = new TokenBucketLimiter(10, 2, Duration.ofSeconds(1));

  private long burstTokens(byte[] key, long at) {
    return store.apply(key, BURST, at, 0, 2).remaining();
  }

  @Test
  public void aTokenBucketStartsAboveItsCapacityAndRefillsOnlyUpToIt() {
    Verdict first = store.apply(KEY, BURST, T0, 4, 2);
    assertFalse(first.overLimit());
    assertEquals(6, first.remaining(), "the initial tokens, not the capacity");
    assertEquals(-4, first.current(), "capacity − tokens");
    assertEquals(T0, first.resetAtMillis(), "above the capacity: no refill to wait for");
    assertEquals(6, burstTokens(KEY, T0 + 1_000), "a refill that finds 6 adds nothing and removes nothing");
    assertFalse(store.apply(KEY, BURST, T0 + 1_000, 6, 2).overLimit());
    Verdict empty = store.apply(KEY, BURST, T0 + 1_000, 1, 2);
    assertTrue(empty.overLimit(), "the 11th token is refused");
    assertEquals(T0 + 2_000, empty.resetAtMillis());
    assertEquals(2, burstTokens(KEY, T0 + 2_000), "refilled to the capacity");
    assertEquals(2, burstTokens(KEY, T0 + 5_999), "and never above it");
  }

  @Test
  public void anIdleTokenBucketIsNewExactlyAtItsForgetTimeWhetherOrNotItsStateIsStillThere() throws Exception {
    byte[] swept = bytes("swept");
    byte[] kept = bytes("kept");
    store.apply(swept, BURST, T0, 10, 2);
    // The embedded store's sweeper removes it here; Redis only checks its TTL, the key stays (real time is frozen).
    assertStateExpiresAt(swept, T0, T0 + 5_000);
    store.apply(kept, BURST, T0, 10, 2);
    assertEquals(2, burstTokens(kept, T0 + 4_999), "1 ms before: refilled to the capacity only");
    assertTrue(store.apply(kept, BURST, T0 + 4_999, 3, 2).overLimit());
    for (byte[] key : List.of(swept, kept)) {
      Verdict back = store.apply(key, BURST, T0 + 5_000, 10, 2);
      assertFalse(back.overLimit(), new String(key, StandardCharsets.UTF_8) + ": a new bucket at its forget time");
      assertEquals(0, back.remaining());
      assertTrue(store.apply(key, BURST, T0 + 5_000, 1, 2).overLimit());
    }
  }

  @Test
  public void readsAndRejectionsDoNotDelayATokenBucketsReturn() {
    store.apply(KEY, BURST, T0, 10, 2);
    for (long at = T0 + 1_000; at < T0 + 5_000; at += 1_000) {
      assertEquals(2, burstTokens(KEY, at));
      assertTrue(store.apply(KEY, BURST, at, 3, 2).overLimit());
    }
    assertEquals(10, burstTokens(KEY, T0 + 5_000));
    assertFalse(store.apply(KEY, BURST, T0 + 5_000, 1, 2).overLimit());
    assertEquals(9, burstTokens(KEY, T0 + 5_999));
    assertFalse(store.apply(KEY, BURST, T0 + 5_999, 8, 2).overLimit(), "taking tokens restarts the idle time");
    assertEquals(2, burstTokens(KEY, T0 + 9_999), "9 to earn back from 1 token: 5 intervals from 5 s");
    assertEquals(10, burstTokens(KEY, T0 + 10_000));
  }

  @Test
  public void aLoweredCapacityClampsATokenBucketsBurstAndARaisedOneKeepsIt() {
    store.apply(KEY, BURST, T0, 1, 2);
    assertEquals(9, store.apply(KEY, BURST, T0 + 1, 0, 5).remaining(), "raised: the burst stays");
    assertEquals(9, store.apply(KEY, BURST, T0 + 2, 0, 2).remaining());
    assertEquals(1, store.apply(KEY, BURST, T0 + 3, 0, 1).remaining(), "lowered: clamped at once");
    assertFalse(store.apply(KEY, BURST, T0 + 4, 1, 1).overLimit());
    assertTrue(store.apply(KEY, BURST, T0 + 5, 1, 2).overLimit(), "raising it again brings nothing back");
    assertEquals(2, store.apply(KEY, BURST, T0 + 1_000, 0, 2).remaining());
  }

  @Test
  public void aTokenBucketForgetTimeBeyondTwoToThe53MillisIsNever() {
    TokenBucketLimiter huge = new TokenBucketLimiter(4_294_967_295L, 1, Duration.ofDays(1));
    assertFalse(store.apply(KEY, huge, T0, 4_294_967_295L, 1).overLimit());
    long never = 1L << 53;
    assertEquals(1, store.apply(KEY, huge, never - 1, 0, 1).remaining(), "refilled to the capacity, not forgotten");
    assertEquals(4_294_967_295L, store.apply(KEY, huge, never, 0, 1).remaining(), "forgotten there, on both stores");
  }

  @Test
  public void aPenaltyKeepsRejectingAfterTheWindowFrees() {
    PenaltyLimiter penalised = new PenaltyLimiter(PER_MINUTE, BigDecimal.ONE, Duration.ofMinutes(2),
        Duration.ofMinutes(1));
    assertFalse(store.apply(KEY, penalised, T0, 1, 2).overLimit());
    assertFalse(store.apply(KEY, penalised, T0, 1, 2).overLimit());
    Verdict trigger = store.apply(KEY, penalised, T0 + 100, 1, 2);
    assertTrue(trigger.overLimit());
    assertEquals(T0 + 120_100, trigger.resetAtMillis(), "the first rejection starts a 2-minute penalty");
    assertTrue(store.apply(KEY, penalised, T0 + 61_000, 1, 2).overLimit(), "the window freed, the penalty holds");
    Verdict after = store.apply(KEY, penalised, T0 + 120_100, 1, 2);
    assertFalse(after.overLimit());
    assertEquals(1, after.current());
  }

  @Test
  public void everyRejectedHitCountsTowardsAPenalty() {
    // Over factor 2: more than 2 rejected hits (the limit) within one window start the penalty.
    PenaltyLimiter penalised = new PenaltyLimiter(PER_MINUTE, BigDecimal.valueOf(2), Duration.ofMinutes(5),
        Duration.ofMinutes(1));
    store.apply(KEY, penalised, T0, 2, 2);
    for (int i = 1; i <= 3; i++) {
      assertTrue(store.apply(KEY, penalised, T0 + i, 1, 2).overLimit(), "rejection " + i);
    }
    Verdict later = store.apply(KEY, penalised, T0 + 61_000, 1, 2);
    assertTrue(later.overLimit(), "the third rejected hit started a penalty, though the window has freed");
    assertEquals(T0 + 3 + 300_000, later.resetAtMillis());
  }

  /** A counter kept by {@link CounterStore#update}: adds one and keeps the state for a minute. */
  private static final StateUpdate<Long> INCREMENT = new StateUpdate<>() {
    @Override
    public int stateSize() {
      return 16;
    }

    @Override
    public Long apply(StateBuffer state, long nowMillis) {
      long value = state.getLong(8) + 1;
      state.putLong(8, value);
      state.putLong(StateBuffer.EXPIRES_AT, nowMillis + 60_000);
      return value;
    }
  };

  @Test
  public void updatesAreAtomicUnderConcurrencyAndAStateWithoutExpiryIsNotKept() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<?>> tasks = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        tasks.add(pool.submit(() -> {
          for (int i = 0; i < 50; i++) {
            store.update(KEY, INCREMENT, T0);
          }
          return null;
        }));
      }
      for (Future<?> task : tasks) {
        task.get(60, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    assertEquals(201L, store.update(KEY, INCREMENT, T0 + 1), "no update lost");
    StateUpdate<Long> readOnly = new StateUpdate<>() {
      @Override
      public int stateSize() {
        return 16;
      }

      @Override
      public Long apply(StateBuffer state, long nowMillis) {
        return state.getLong(8);
      }
    };
    assertEquals(0L, store.update(bytes("never-seen"), readOnly, T0));
    assertEquals(1, store.size(), "reading a key never seen stores nothing");
  }
}
