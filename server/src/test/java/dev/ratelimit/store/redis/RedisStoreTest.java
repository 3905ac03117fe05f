package dev.ratelimit.store.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.limiter.FixedWindowLimiter;
import dev.ratelimit.limiter.PenaltyLimiter;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.limiter.TokenBucketLimiter;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.store.StoreException;
import io.lettuce.core.cluster.SlotHash;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The shared store contract on Redis with the local over-limit cache on (production), plus what only the Redis store
 * does: Redis's clock, key layout, expiry in real time, script reloading, the cache's round trips saved, timeouts.
 */
class RedisStoreTest extends AbstractRedisStoreContract {
  @Override
  int overLimitCacheSize() {
    return 1_000;
  }

  private static long evalshaCalls() throws Exception {
    String stats = (String) redis.command("INFO", "commandstats");
    for (String line : stats.split("\r\n")) {
      if (line.startsWith("cmdstat_evalsha:calls=")) {
        return Long.parseLong(line.substring("cmdstat_evalsha:calls=".length(), line.indexOf(',')));
      }
    }
    return 0;
  }

  @Test
  void withRedisTimeReplicasWithSkewedClocksShareOneWindow() throws Exception {
    try (RedisStore serverTime = RedisStore.open(settings().withTimeSource(TimeSource.REDIS))) {
      long before = System.currentTimeMillis();
      Verdict a = serverTime.apply(KEY, PER_MINUTE, 0, 1, 60); // a replica whose clock says 1970
      Verdict b = serverTime.apply(KEY, PER_MINUTE, before + 3_600_000, 1, 60); // one an hour ahead
      long after = System.currentTimeMillis();
      assertEquals(1, a.current());
      assertEquals(2, b.current(), "both hits count in the same window, on Redis's clock");
      long slotEnd = Math.floorDiv(before, 1000) * 1000 + 1000;
      assertTrue(b.resetAtMillis() >= slotEnd + 60_000 && b.resetAtMillis() <= after + 61_000,
          "reset " + b.resetAtMillis() + " is one window after the hit on Redis's clock");
    }
  }

  @Test
  void eachCounterIsOneHashTaggedKeyUnderThePrefix() throws Exception {
    store.apply(KEY, PER_MINUTE, T0, 1, 60);
    List<?> keys = (List<?>) redis.command("KEYS", "*");
    assertEquals(List.of("rl:{b3JnLWFjbWU}"), keys, "prefix, then base64url(counter key) as the hash tag");
    assertEquals("hash", redis.command("TYPE", "rl:{b3JnLWFjbWU}"));
    byte[] redisKey = ((RedisStore) store).redisKey(KEY);
    assertEquals(SlotHash.getSlot("b3JnLWFjbWU".getBytes(StandardCharsets.US_ASCII)), SlotHash.getSlot(redisKey));
  }

  @Test
  void everyConfiguredAlgorithmRunsAsOneScriptCall() throws Exception {
    PenaltyLimiter penalised = new PenaltyLimiter(new TokenBucketLimiter(5, 1, Duration.ofSeconds(1)),
        BigDecimal.ONE, Duration.ofMinutes(1), Duration.ofSeconds(1));
    long before = evalshaCalls();
    store.apply(KEY, penalised, T0, 1, 5);
    assertTrue(store.apply(KEY, penalised, T0 + 1, 6, 5).overLimit(), "6 tokens asked, 4 left: the penalty starts");
    store.apply(bytes("fixed"), new FixedWindowLimiter(Duration.ofMinutes(1)), T0, 1, 5);
    assertEquals(before + 3, evalshaCalls(), "one EVALSHA per decision, no read-then-write");
    String key = new String(((RedisStore) store).redisKey(KEY), StandardCharsets.US_ASCII);
    assertEquals("hash", redis.command("TYPE", key), "the penalty lives beside the bucket's fields");
    assertEquals(List.of("4", Long.toString(T0 + 60_001)), redis.command("HMGET", key, "t", "pu"));
  }

  @Test
  void keysExpireByThemselvesInRealTime() throws Exception {
    SlidingWindowLimiter oneSecond = new SlidingWindowLimiter(Duration.ofSeconds(1), 10);
    try (RedisStore serverTime = RedisStore.open(settings().withTimeSource(TimeSource.REDIS))) {
      serverTime.apply(KEY, oneSecond, 0, 1, 5);
      String key = new String(serverTime.redisKey(KEY), StandardCharsets.US_ASCII);
      long ttl = (Long) redis.command("PTTL", key);
      assertTrue(ttl > 0 && ttl <= 1_100, "expires when its slot ages out, PTTL " + ttl);
      long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
      while ((Long) redis.command("EXISTS", key) == 1 && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      assertEquals(0L, redis.command("EXISTS", key), "gone without any sweeper");
    }
  }

  @Test
  void aFlushedScriptCacheIsReloadedTransparently() throws Exception {
    store.apply(KEY, PER_MINUTE, T0, 1, 60);
    redis.command("SCRIPT", "FLUSH");
    Verdict v = store.apply(KEY, PER_MINUTE, T0 + 1, 1, 60);
    assertEquals(2, v.current(), "NOSCRIPT answered by running the script again, nothing lost or doubled");
    assertEquals(List.of(1L), redis.command("SCRIPT", "EXISTS", LuaScript.load().sha1()));
  }

  @Test
  void anOverLimitKeyIsAnsweredLocallyUntilItsReset() throws Exception {
    RedisStore redisStore = (RedisStore) store;
    for (int i = 0; i < 3; i++) {
      assertFalse(store.apply(KEY, PER_MINUTE, T0 + 500, 1, 3).overLimit());
    }
    Verdict first = store.apply(KEY, PER_MINUTE, T0 + 2_000, 1, 3);
    assertTrue(first.overLimit());
    long calls = evalshaCalls();
    for (int i = 0; i < 20; i++) {
      Verdict v = store.apply(KEY, PER_MINUTE, T0 + 2_000 + i * 1_000L, 1, 3);
      assertTrue(v.overLimit());
      assertEquals(3, v.current());
      assertEquals(0, v.remaining());
      assertEquals(T0 + 61_000, v.resetAtMillis());
    }
    assertEquals(calls, evalshaCalls(), "no round trip to Redis while the key is known to be over");
    assertEquals(20, redisStore.localRejections());
    assertFalse(store.apply(KEY, PER_MINUTE, T0 + 2_000, 0, 3).overLimit(), "a peek still fits: asks Redis");
    assertFalse(store.apply(KEY, PER_MINUTE, T0 + 3_000, 1, 10).overLimit(), "a raised limit asks Redis");
    Verdict afterReset = store.apply(KEY, PER_MINUTE, T0 + 61_000, 1, 3);
    assertFalse(afterReset.overLimit(), "at the reset the first slot aged out: Redis admits again");
    assertEquals(2, afterReset.current());
    assertEquals(calls + 3, evalshaCalls());
  }

  @Test
  void aSlowRedisFailsTheDecisionWithinTheTimeoutAndRecovers() throws Exception {
    try (RedisStore impatient = RedisStore.open(settings().withTimeout(Duration.ofMillis(200)))) {
      impatient.apply(KEY, PER_MINUTE, T0, 1, 60);
      redis.command("CLIENT", "PAUSE", "1500", "ALL");
      // Waiting out the pause would have been answered (Redis runs the call when the pause ends): failing at all
      // shows the call gave up on its own timeout, and the cause says so.
      StoreException e = assertThrows(StoreException.class, () -> impatient.apply(KEY, PER_MINUTE, T0 + 1, 1, 60));
      assertEquals(StoreException.Kind.UNAVAILABLE, e.kind());
      assertTrue(timedOut(e), "gave up on the 200 ms timeout, not because of an error: " + e);
      assertEquals(1, impatient.failures());
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      boolean answered = false;
      for (int probe = 0; !answered && System.nanoTime() < deadline; probe++) {
        try {
          impatient.apply(bytes("probe-" + probe), PER_MINUTE, T0 + 2, 1, 60);
          answered = true;
        } catch (StoreException stillPaused) {
          Thread.sleep(50);
        }
      }
      assertTrue(answered, "Redis answers again once the pause is over");
      assertEquals(1, impatient.apply(bytes("fresh"), PER_MINUTE, T0 + 3, 1, 60).current(), "exact again");
      assertEquals(2, impatient.apply(KEY, PER_MINUTE, T0 + 3, 0, 60).current(),
          "as documented, the call that timed out was still run by Redis when the pause ended");
    }
  }

  /** Whether a timeout (ours or Lettuce's command timeout) is in the cause chain. */
  private static boolean timedOut(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.util.concurrent.TimeoutException || t instanceof io.lettuce.core.RedisCommandTimeoutException) {
        return true;
      }
    }
    return false;
  }

  @Test
  void unreachableRedisAtStartIsAClearError() throws Exception {
    int port;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      port = s.getLocalPort();
    }
    long start = System.nanoTime();
    java.io.IOException e = assertThrows(java.io.IOException.class, () -> RedisStore.open(
        RedisSettings.defaults("redis://127.0.0.1:" + port).withStartupTimeout(Duration.ofSeconds(1))));
    long tookMillis = (System.nanoTime() - start) / 1_000_000;
    assertTrue(e.getMessage().contains("cannot connect to Redis at redis://127.0.0.1:" + port), e.getMessage());
    assertTrue(e.getMessage().contains("attempts within 1000 ms, --redis-startup-timeout"), e.getMessage());
    // Bounds on the wall clock, by what they tell apart, not by speed: at least half the 1 s start-up timeout (it
    // kept trying), and far below "retrying without end" (5 times the timeout, for a busy machine).
    assertTrue(tookMillis >= 500 && tookMillis < 5_000, "kept trying for the start-up timeout: " + tookMillis + " ms");
  }

  @Test
  void aRedisThatStartsLaterIsWaitedForUntilTheStartupTimeout() throws Exception {
    java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("redis-late");
    int port;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      port = s.getLocalPort();
    }
    java.util.concurrent.CompletableFuture<RedisStore> opening = java.util.concurrent.CompletableFuture.supplyAsync(
        () -> {
          try {
            return RedisStore.open(RedisSettings.defaults("redis://127.0.0.1:" + port)
                .withTimeout(Duration.ofMillis(15)).withStartupTimeout(Duration.ofSeconds(30)));
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        });
    Thread.sleep(1_000);
    assertFalse(opening.isDone(), "still trying: Redis is not there yet");
    try (dev.ratelimit.testing.RedisProcess late = dev.ratelimit.testing.RedisProcess.startOn(dir, port);
        RedisStore started = opening.get(30, java.util.concurrent.TimeUnit.SECONDS)) {
      assertEquals(List.of(1L, 1L), late.command("SCRIPT", "EXISTS", LuaScript.load().sha1(),
          LuaScript.load("state.lua").sha1()), "both scripts loaded once Redis came up");
      assertTrue(started.isOpen());
    }
  }

  @Test
  void aBusyRedisAtStartDoesNotFailTheShortDecisionTimeout() throws Exception {
    // Loading the scripts has 2 s per attempt and retries: neither a 15 ms decision timeout nor one slow attempt
    // fails the start.
    redis.command("SCRIPT", "FLUSH");
    redis.command("CLIENT", "PAUSE", "2500", "ALL");
    long start = System.nanoTime();
    try (RedisStore started = RedisStore.open(settings().withTimeout(Duration.ofMillis(15)))) {
      assertTrue(System.nanoTime() - start >= Duration.ofMillis(2_000).toNanos(), "waited out the pause");
      assertEquals(List.of(1L), redis.command("SCRIPT", "EXISTS", LuaScript.load().sha1()));
      assertTrue(started.isOpen());
    }
  }

  @Test
  void withRedisTimeACallRunAfterItsDeadlineCountsNothing() throws Exception {
    try (RedisStore impatient = RedisStore.open(settings().withTimeout(Duration.ofMillis(200))
        .withTimeSource(TimeSource.REDIS))) {
      assertEquals(1, impatient.apply(KEY, PER_MINUTE, 0, 1, 60).current());
      long expiredBefore = RedisBurstTest.errorCount(redis, "EXPIRED");
      redis.command("CLIENT", "PAUSE", "1000", "ALL");
      assertThrows(StoreException.class, () -> impatient.apply(KEY, PER_MINUTE, 0, 1, 60),
          "the failure mode answers after 200 ms");
      // The pause ends and Redis runs the call, long past its deadline: wait for its refusal, not for a time.
      long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
      while (RedisBurstTest.errorCount(redis, "EXPIRED") == expiredBefore && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertEquals(expiredBefore + 1, RedisBurstTest.errorCount(redis, "EXPIRED"), "Redis refused to run it late");
      assertEquals(1, impatient.apply(KEY, PER_MINUTE, 0, 0, 60).current(), "the timed-out hit was not counted");
    }
  }
}
