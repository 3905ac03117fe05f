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
 */
final class RedisClockOffset {
  private static final long WINDOW_NANOS = TimeUnit.SECONDS.toNanos(10);
  private static final long NONE = Long.MIN_VALUE;

  private final long baseNanos = System.nanoTime();
  private final long baseMicros = System.currentTimeMillis() * 1_000;
  private final Map<String, Estimate> nodes = new ConcurrentHashMap<>();

  /** A local instant ({@link System#nanoTime}) in microseconds since the epoch, on a clock that never steps. */
  long localMicros(long nanoTime) {
    return baseMicros + (nanoTime - baseNanos) / 1_000;
  }

  /** Records that {@code node} answered with its time {@code redisMillis} before {@code receivedNanos}. */
  void sample(String node, long redisMillis, long receivedNanos) {
    long lowerBound = redisMillis * 1_000 - localMicros(receivedNanos);
    nodes.computeIfAbsent(node, n -> new Estimate()).offer(lowerBound, receivedNanos);
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

  /** The largest lower bound over the current and the previous window. */
  private static final class Estimate {
    private long windowStart = NONE;
    private long current = NONE;
    private long previous = NONE;

    synchronized void offer(long lowerBound, long nowNanos) {
      if (windowStart == NONE || nowNanos - windowStart >= WINDOW_NANOS) {
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
