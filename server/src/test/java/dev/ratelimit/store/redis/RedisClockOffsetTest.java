package dev.ratelimit.store.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Deadlines in Redis's clock are never later than the local deadline, per node, and follow the reply lag. */
class RedisClockOffsetTest {
  private final RedisClockOffset clock = new RedisClockOffset();
  private final long t0 = System.nanoTime();

  /** The Redis time (ms) of a node whose clock is {@code aheadMillis} ahead, at local instant {@code nanos}. */
  private long redisMillis(long nanos, long aheadMillis) {
    return Math.floorDiv(clock.localMicros(nanos), 1_000) + aheadMillis;
  }

  @Test
  void noDeadlineBeforeAnyReply() {
    assertEquals(LuaScript.NO_DEADLINE, clock.redisDeadline("a", t0, 2));
  }

  @Test
  void theDeadlineIsTheLocalOneInTheNodesClockLessTheMargin() {
    long ran = t0;
    long received = t0 + TimeUnit.MICROSECONDS.toNanos(300); // the reply took 0.3 ms to come back
    clock.sample("a", redisMillis(ran, 5_000), received);
    long localDeadline = t0 + TimeUnit.MILLISECONDS.toNanos(15);
    long deadline = clock.redisDeadline("a", localDeadline, 2);
    long exact = redisMillis(localDeadline, 5_000);
    assertTrue(deadline <= exact - 2, "never later than the local deadline less the margin: " + deadline + " vs "
        + exact);
    assertTrue(deadline >= exact - 4, "and not much earlier: " + deadline + " vs " + exact);
  }

  @Test
  void eachNodeHasItsOwnClockAndANewNodeTakesTheSmallestKnownEstimate() {
    clock.sample("fast", redisMillis(t0, 100), t0);
    clock.sample("slow", redisMillis(t0, -100), t0);
    long at = t0 + TimeUnit.MILLISECONDS.toNanos(20);
    assertEquals(redisMillis(at, 100), clock.redisDeadline("fast", at, 0), 1);
    assertEquals(redisMillis(at, -100), clock.redisDeadline("slow", at, 0), 1);
    assertEquals(redisMillis(at, -100), clock.redisDeadline("promoted", at, 0), 1);
  }

  @Test
  void slowRepliesShowAsLag() {
    clock.sample("a", redisMillis(t0, 0), t0);
    assertEquals(0, clock.recentLagMillis());
    long ran = t0 + TimeUnit.MILLISECONDS.toNanos(10);
    clock.sample("a", redisMillis(ran, 0), ran + TimeUnit.MILLISECONDS.toNanos(8)); // 8 ms to reach the thread
    assertTrue(clock.recentLagMillis() >= 7 && clock.recentLagMillis() <= 9, "lag " + clock.recentLagMillis());
  }
}
