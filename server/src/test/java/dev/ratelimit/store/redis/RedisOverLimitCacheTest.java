package dev.ratelimit.store.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.limiter.Verdict;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The local over-limit cache alone, with explicit times (no Redis needed). */
class RedisOverLimitCacheTest {
  private static final byte[] KEY = "org-acme".getBytes(StandardCharsets.UTF_8);
  private static final Verdict FULL = new Verdict(true, 10, 10, 0, 61_000);

  @Test
  void aRejectionIsRepeatedUntilTheResetThenRedisDecidesAgain() {
    OverLimitCache cache = new OverLimitCache(100);
    cache.remember(KEY, FULL, 1_000, 61_000);
    assertSame(FULL, cache.rejection(KEY.clone(), 1, 10, 60_999), "keys compare by content");
    assertNull(cache.rejection(KEY, 1, 10, 61_000), "at the reset the window frees");
    assertNull(cache.rejection(KEY, 1, 10, 2_000), "and the expired entry is gone");
  }

  @Test
  void onlyRequestsThatCannotFitAreAnsweredLocally() {
    OverLimitCache cache = new OverLimitCache(100);
    Verdict partlyFull = new Verdict(true, 10, 7, 3, 61_000); // 5 hits did not fit into 3
    cache.remember(KEY, partlyFull, 1_000, 61_000);
    assertSame(partlyFull, cache.rejection(KEY, 4, 10, 2_000));
    assertNull(cache.rejection(KEY, 3, 10, 2_000), "3 may still fit: ask Redis");
    assertNull(cache.rejection(KEY, 0, 10, 2_000), "a peek fits");
    assertNull(cache.rejection(KEY, 4, 20, 2_000), "another limit (a reload) asks Redis");
  }

  @Test
  void admittedOrAlreadyResetVerdictsAreNotRemembered() {
    OverLimitCache cache = new OverLimitCache(100);
    cache.remember(KEY, new Verdict(false, 10, 3, 7, 61_000), 1_000, 61_000);
    cache.remember("other".getBytes(StandardCharsets.UTF_8), FULL, 61_000, 61_000);
    assertEquals(0, cache.size());
  }

  @Test
  void theCacheIsBoundedAndCanBeTurnedOff() {
    OverLimitCache cache = new OverLimitCache(32);
    for (int i = 0; i < 10_000; i++) {
      cache.remember(("key-" + i).getBytes(StandardCharsets.UTF_8), FULL, 0, 61_000);
    }
    assertTrue(cache.size() <= 32, "holds at most its size, held " + cache.size());
    assertSame(FULL, cache.rejection("key-9999".getBytes(StandardCharsets.UTF_8), 1, 10, 1),
        "the newest entries stay");
    OverLimitCache off = new OverLimitCache(0);
    off.remember(KEY, FULL, 0, 61_000);
    assertNull(off.rejection(KEY, 1, 10, 1));
    assertThrows(IllegalArgumentException.class, () -> new OverLimitCache(-1));
  }
}
