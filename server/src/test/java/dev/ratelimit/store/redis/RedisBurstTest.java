package dev.ratelimit.store.redis;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.store.StoreException;
import dev.ratelimit.testing.RedisProcess;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Concurrent bursts against a small limit while Redis stalls now and then ({@code CLIENT PAUSE}) for longer than the
 * decision timeout: calls time out and the failure mode answers them, and Redis runs them later, when the pause ends.
 * Those late calls must not count (the script refuses to run past its deadline, {@code EXPIRED}), or they would eat
 * into the limit behind the limiter's back; and Redis never admits more than the limit.
 */
@Tag("redis")
class RedisBurstTest {
  private static final SlidingWindowLimiter PER_MINUTE = new SlidingWindowLimiter(Duration.ofMinutes(1), 60);
  private static final int ORGS = 120;
  private static final int REQUESTS_PER_ORG = 10;
  private static final long LIMIT = 5;

  @TempDir
  Path dir;

  @Test
  void callsThatTimedOutAreNeverCountedLaterAndNoOrgGetsMoreThanItsLimitFromRedis() throws Exception {
    // 8 callers: more only measure how starved of CPU a busy two-core machine makes the replies' way back.
    try (RedisProcess redis = RedisProcess.start(dir);
        RedisStore a = RedisStore.open(RedisSettings.defaults(redis.uri()).withTimeout(Duration.ofMillis(20)));
        RedisStore b = RedisStore.open(RedisSettings.defaults(redis.uri()).withTimeout(Duration.ofMillis(20)))) {
      AtomicIntegerArray admitted = new AtomicIntegerArray(ORGS);
      AtomicIntegerArray rejected = new AtomicIntegerArray(ORGS);
      AtomicIntegerArray failed = new AtomicIntegerArray(ORGS);
      AtomicBoolean bursting = new AtomicBoolean(true);
      Thread staller = new Thread(() -> {
        while (bursting.get()) {
          try {
            redis.command("CLIENT", "PAUSE", "50", "ALL"); // over twice the timeout
            Thread.sleep(200);
          } catch (Exception e) {
            return;
          }
        }
      }, "redis-staller");
      ExecutorService pool = Executors.newFixedThreadPool(8);
      staller.start();
      try {
        List<Future<?>> calls = new ArrayList<>();
        for (int r = 0; r < REQUESTS_PER_ORG; r++) {
          for (int org = 0; org < ORGS; org++) {
            int o = org;
            RedisStore store = (r + org) % 2 == 0 ? a : b;
            calls.add(pool.submit(() -> {
              try {
                Verdict v = store.apply(key(o), PER_MINUTE, System.currentTimeMillis(), 1, LIMIT);
                (v.overLimit() ? rejected : admitted).incrementAndGet(o);
              } catch (StoreException failureMode) {
                failed.incrementAndGet(o);
              }
            }));
          }
        }
        for (Future<?> call : calls) {
          call.get(60, TimeUnit.SECONDS);
        }
      } finally {
        bursting.set(false);
        pool.shutdownNow();
        staller.join(5_000);
      }
      Thread.sleep(200); // any call still queued in Redis has run by now
      int failures = 0;
      int overshootWithAllow = 0;
      long countedWithoutVerdict = 0;
      RedisStore checker = RedisStore.open(RedisSettings.defaults(redis.uri()).withTimeout(Duration.ofSeconds(2))
          .withOverLimitCacheSize(0));
      for (int org = 0; org < ORGS; org++) {
        long counted = checker.apply(key(org), PER_MINUTE, System.currentTimeMillis(), 0, LIMIT).current();
        assertTrue(admitted.get(org) <= LIMIT, "org " + org + ": Redis admitted " + admitted.get(org));
        assertTrue(counted >= admitted.get(org), "org " + org + ": an admitted hit was not counted");
        countedWithoutVerdict += counted - admitted.get(org);
        failures += failed.get(org);
        overshootWithAllow += Math.max(0, admitted.get(org) + failed.get(org) - (int) LIMIT);
        assertEquals(REQUESTS_PER_ORG, admitted.get(org) + rejected.get(org) + failed.get(org));
      }
      checker.close();
      long expired = errorCount(redis, "EXPIRED");
      System.out.printf("BURST %d orgs x %d requests, limit %d, timeout 20 ms, Redis paused 50 ms every 250 ms: "
              + "%d answered by the failure mode, %d run by Redis after their deadline (not counted), %d hits counted "
              + "without a verdict; with failure_mode allow those answers admit %d above the limits%n",
          ORGS, REQUESTS_PER_ORG, LIMIT, failures, expired, countedWithoutVerdict, overshootWithAllow);
      assertTrue(failures > 0 && expired > 0,
          "the stalls must make calls time out and run late, else this test proves nothing");
      // Without deadlines about half of the failure-mode answers were counted by Redis later (measured: 69 of 112 and
      // 155 of 295). With them a call Redis runs late never counts; only one it ran just in time whose reply then
      // reached the waiting thread later than the margin (a JVM starved of CPU) still does: a few percent here.
      assertTrue(countedWithoutVerdict <= Math.max(2, failures / 10),
          countedWithoutVerdict + " of " + failures + " failure-mode answers were counted by Redis");
    }
  }

  private static byte[] key(int org) {
    return ("org-" + org).getBytes(StandardCharsets.UTF_8);
  }

  /** How many error replies starting with {@code prefix} Redis has sent ({@code INFO errorstats}). */
  static long errorCount(RedisProcess redis, String prefix) throws Exception {
    for (String line : ((String) redis.command("INFO", "errorstats")).split("\r\n")) {
      if (line.startsWith("errorstat_" + prefix + ":count=")) {
        return Long.parseLong(line.substring(line.indexOf('=') + 1).split(",")[0]);
      }
    }
    return 0;
  }
}
