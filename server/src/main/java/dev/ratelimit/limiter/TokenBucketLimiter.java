package dev.ratelimit.limiter;

import java.time.Duration;
import java.util.Objects;

/**
 * A token bucket: a key starts with {@code initialTokens}; each request takes {@code hits} tokens and is admitted iff
 * that many are left; {@code refillTokens} are added at the end of each {@code refillInterval}, never above the
 * capacity. The capacity is the rule's limit (the {@code limit} argument), so a reload that only changes it keeps the
 * tokens (clamped to the new capacity).
 *
 * <p>Intervals are counted per key from the key's first request (not aligned to the epoch): a bucket first used at
 * 12:00:00.300 with a 1 s interval refills at 12:00:01.300, 12:00:02.300, ... A refill that finds the bucket full is
 * lost, as in any token bucket. Verdict: {@code remaining} = tokens left, {@code current} = capacity − tokens,
 * {@code reset} = when the next refill lands (now when the bucket is full).
 *
 * <p>State (24 bytes, little-endian longs): {@code [0]} expiry millis (when the bucket will be full again; a key
 * removed then restarts at {@code initialTokens}), {@code [8]} tokens, {@code [16]} start of the current refill
 * interval (epoch millis). All zero = a key never seen.
 */
public final class TokenBucketLimiter implements Limiter {
  private static final int TOKENS = 8;
  private static final int INTERVAL_START = 16;
  private static final int SIZE = 24;

  private final long initialTokens;
  private final long refillTokens;
  private final long intervalMillis;

  /**
   * @param initialTokens tokens of a new key (capped at the capacity in force)
   * @param refillTokens tokens added per elapsed interval, at least 1
   * @param refillInterval at least 1 ms
   */
  public TokenBucketLimiter(long initialTokens, long refillTokens, Duration refillInterval) {
    this.intervalMillis = refillInterval.toMillis();
    if (initialTokens < 0) {
      throw new IllegalArgumentException("initial tokens must be at least 0, not " + initialTokens);
    }
    if (refillTokens < 1) {
      throw new IllegalArgumentException("refill tokens must be at least 1, not " + refillTokens);
    }
    if (intervalMillis < 1) {
      throw new IllegalArgumentException("the refill interval must be at least 1 ms, not " + refillInterval);
    }
    this.initialTokens = initialTokens;
    this.refillTokens = refillTokens;
  }

  public long initialTokens() {
    return initialTokens;
  }

  public long refillTokens() {
    return refillTokens;
  }

  public long refillIntervalMillis() {
    return intervalMillis;
  }

  @Override
  public int stateSize(int storedBytes, long limit) {
    return SIZE;
  }

  @Override
  public int stateShape() {
    return Objects.hash("token_bucket", intervalMillis);
  }

  @Override
  public Verdict apply(StateBuffer state, long nowMillis, long hits, long limit) {
    boolean fresh = state.getLong(StateBuffer.EXPIRES_AT) == 0;
    long tokens;
    long start;
    if (fresh) {
      tokens = Math.min(initialTokens, limit);
      start = nowMillis;
    } else {
      tokens = Math.min(state.getLong(TOKENS), limit);
      start = state.getLong(INTERVAL_START);
      // A clock that stepped back refills nothing until it passes the interval start again.
      long elapsed = nowMillis > start ? (nowMillis - start) / intervalMillis : 0;
      if (elapsed > 0) {
        long missing = limit - tokens;
        tokens = elapsed >= ceilDiv(missing, refillTokens) ? limit : tokens + elapsed * refillTokens;
        start += elapsed * intervalMillis;
      }
    }
    boolean admitted = hits <= tokens;
    if (admitted) {
      tokens -= hits;
    }
    // A read (hits == 0) of a key never seen leaves no state behind; anything else starts the refill clock.
    if (hits > 0 || !fresh) {
      state.putLong(TOKENS, tokens);
      state.putLong(INTERVAL_START, start);
      state.putLong(StateBuffer.EXPIRES_AT, fullAt(tokens, start, limit));
    }
    long reset = tokens >= limit ? nowMillis : start + intervalMillis;
    return new Verdict(!admitted, limit, limit - tokens, tokens, reset);
  }

  /**
   * Gives the tokens back. A bucket at or below its capacity is not refilled above it (a refill may have landed since
   * the tokens were taken); one still above capacity from its initial tokens has not refilled, so it gets them all.
   */
  @Override
  public void refund(StateBuffer state, long nowMillis, long hits, long limit) {
    if (hits <= 0 || state.getLong(StateBuffer.EXPIRES_AT) == 0) {
      return;
    }
    long tokens = state.getLong(TOKENS);
    long refunded = tokens > Long.MAX_VALUE - hits ? Long.MAX_VALUE : tokens + hits;
    if (tokens <= limit) {
      refunded = Math.min(refunded, limit);
    }
    long start = state.getLong(INTERVAL_START);
    state.putLong(TOKENS, refunded);
    state.putLong(StateBuffer.EXPIRES_AT, fullAt(refunded, start, limit));
  }

  /** When the bucket will be full (the end of the current interval if it is full already). */
  private long fullAt(long tokens, long start, long limit) {
    long intervals = Math.max(1, ceilDiv(limit - tokens, refillTokens));
    long max = (Long.MAX_VALUE - start) / intervalMillis;
    return intervals >= max ? Long.MAX_VALUE : start + intervals * intervalMillis;
  }

  private static long ceilDiv(long a, long b) {
    return a <= 0 ? 0 : (a - 1) / b + 1;
  }

  /** Equal when the initial tokens and refill are: such limiters count identically. */
  @Override
  public boolean equals(Object o) {
    return o instanceof TokenBucketLimiter other && initialTokens == other.initialTokens
        && refillTokens == other.refillTokens && intervalMillis == other.intervalMillis;
  }

  @Override
  public int hashCode() {
    return Objects.hash(initialTokens, refillTokens, intervalMillis);
  }

  @Override
  public String toString() {
    return "token_bucket(initial " + initialTokens + ", refill " + refillTokens + " per " + intervalMillis + " ms)";
  }
}
