package dev.ratelimit.store.redis;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * How far each Redis node's {@code TIME} is ahead of this process, so that a call's local deadline can be sent in
 * Redis's clock (the script refuses to run past it, see {@code ratelimit.lua}).
 *
 * <p>Every reply carries the node's time {@code r} (read while the script ran, between sending at {@code t0} and
 * receiving at {@code t1} here), so {@code r − t1} is a <em>lower bound</em> of the true offset. The estimate is the
 * largest lower bound seen in the last 10 to 20 s (per node: Cluster masters have clocks of their own), so it is
 * never above the true offset by more than the clocks drifted in that time, and it follows a clock step within 20 s.
 * A deadline built from it is therefore never later than the local deadline; {@link #redisDeadline} subtracts a
 * margin for millisecond rounding and the reply's way back. Local time is monotonic ({@link System#nanoTime}), so a
 * step of this machine's wall clock changes nothing.
 *
 * <p>The reply's way back is measured too: a sample's distance below the estimate is how much later than the fastest
 * reply it reached the waiting thread ({@link #recentLagMillis}, the largest in the last 1 to 2 s). A busy JVM delays
 * replies; the store then sends deadlines that much earlier, so that a call Redis runs just in time is not answered
 * too late for the waiting thread (which would answer by the failure mode a hit that Redis counted).
 */
final class RedisClockOffset {
  private static final long WINDOW_NANOS = TimeUnit.SECONDS.toNanos(10);
  private static final long NONE = Long.MIN_VALUE;
  private static final long LAG_WINDOW_NANOS = TimeUnit.SECONDS.toNanos(1);

  private final long baseNanos = System.nanoTime();
  private final long baseMicros = System.currentTimeMillis() * 1_000;
  private final Map<String, Estimate> nodes = new ConcurrentHashMap<>();
  private final Estimate lag = new Estimate(LAG_WINDOW_NANOS);

  /** A local instant ({@link System#nanoTime}) in microseconds since the epoch, on a clock that never steps. */
  long localMicros(long nanoTime) {
    return baseMicros + (nanoTime - baseNanos) / 1_000;
  }

  /** Records that {@code node} answered with its time {@code redisMillis} before {@code receivedNanos}. */
  void sample(String node, long redisMillis, long receivedNanos) {
    long lowerBound = redisMillis * 1_000 - localMicros(receivedNanos);
    Estimate estimate = nodes.computeIfAbsent(node, n -> new Estimate(WINDOW_NANOS));
    estimate.offer(lowerBound, receivedNanos);
    lag.offer(Math.max(0, estimate.value() - lowerBound), receivedNanos);
  }

  /** How much later than the fastest one replies reached the waiting thread lately (ms, 0 when unknown). */
  long recentLagMillis() {
    return Math.max(0, lag.value()) / 1_000;
  }

  /**
   * The deadline to send to {@code node} for the local deadline {@code deadlineNanos}: in Redis {@code TIME}
   * milliseconds, {@code marginMillis} early; {@link LuaScript#NO_DEADLINE} while no node has answered yet. A node
   * without samples of its own (just promoted) gets the smallest estimate of the others.
   */
  long redisDeadline(String node, long deadlineNanos, long marginMillis) {
    long offset = offset(node);
    if (offset == NONE) {
      return LuaScript.NO_DEADLINE;
    }
    return Math.floorDiv(localMicros(deadlineNanos) + offset, 1_000) - marginMillis;
  }

  /** The current estimate for {@code node} in microseconds, or {@link #NONE}. */
  private long offset(String node) {
    Estimate own = nodes.get(node);
    if (own != null) {
      return own.value();
    }
    long smallest = NONE;
    for (Estimate other : nodes.values()) {
      long value = other.value();
      if (value != NONE && (smallest == NONE || value < smallest)) {
        smallest = value;
      }
    }
    return smallest;
  }

  /** The largest value offered over the current and the previous window. */
  private static final class Estimate {
    private final long windowNanos;
    private long windowStart = NONE;
    private long current = NONE;
    private long previous = NONE;

    Estimate(long windowNanos) {
      this.windowNanos = windowNanos;
    }

    synchronized void offer(long lowerBound, long nowNanos) {
      if (windowStart == NONE || nowNanos - windowStart >= windowNanos) {
        previous = current;
        current = NONE;
        windowStart = nowNanos;
      }
      current = Math.max(current, lowerBound);
    }

    synchronized long value() {
      return Math.max(current, previous);
    }
  }
}
