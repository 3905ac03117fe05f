package dev.ratelimit.limiter;

import java.time.Duration;
import java.util.Objects;

/**
 * A token bucket: a key starts with {@code initialTokens}; each request takes {@code hits} tokens and is admitted iff
 * that many are left; {@code refillTokens} are added at the end of each {@code refillInterval}. The capacity is the
 * rule's limit (the {@code limit} argument).
 *
 * <p><b>Above capacity.</b> {@code initialTokens} may exceed the capacity: the bucket starts there and spends down; a
 * refill never takes it above the capacity (a refill that finds it at or above the capacity adds nothing and removes
 * nothing). So tokens above the capacity can only be what is left of the initial tokens. A reload that raises the
 * capacity or keeps it keeps the tokens; one that <em>lowers</em> it clamps them to the new capacity at once, the rest
 * of an initial burst included: lowering a capacity is how an operator slows a client down now (the state records the
 * capacity of its last write to tell a lowered one). And a bucket never keeps more than a new one would start with or
 * its capacity, whichever is more (this only matters after a reload that lowered {@code initialTokens}).
 *
 * <p><b>Idle keys.</b> A bucket is forgotten once an uncapped refill from the tokens its last admitted request left
 * would have reached {@code max(initialTokens, capacity)}: from then on ({@code forgetAt <= now}) the key is a new
 * bucket with {@code initialTokens}, whether or not a sweeper or Redis has removed it yet, so the answer is a function
 * of the state and the time alone. An idle client thus never gets back more than the refill rate would have earned it:
 * with {@code initialTokens <= capacity} the key is forgotten as it becomes full (and restarts at
 * {@code initialTokens}); with more initial tokens than capacity the burst comes back only after the idle time that
 * earns it (Pro III, 1,000 initial, capacity 100, 100 per second: 10 s after it was emptied). Reads ({@code hits == 0})
 * and rejected requests write nothing, so they never delay that return; only the first request of a new bucket, even
 * rejected, is recorded, as it starts the refill clock.
 *
 * <p>Intervals are counted per key from the key's first request (not aligned to the epoch): a bucket first used at
 * 12:00:00.300 with a 1 s interval refills at 12:00:01.300, 12:00:02.300, ... Verdict: {@code remaining} = tokens
 * left, {@code current} = capacity − tokens (negative while above the capacity), {@code reset} = when the next refill
 * lands (now when the bucket is at or above its capacity).
 *
 * <p>State (40 bytes, little-endian longs): {@code [0]} expiry millis for the sweeper (the forget time, or later when
 * a wrapper such as a penalty needs the key longer), {@code [8]} tokens, {@code [16]} start of the current refill
 * interval (epoch millis), {@code [24]} forget time (epoch millis, capped at {@link Limiter#MAX_EXACT} so that the Lua
 * twin holds it exactly), {@code [32]} capacity at the last write. All zero = a key never seen.
 */
public final class TokenBucketLimiter implements Limiter {
  private static final int TOKENS = 8;
  private static final int INTERVAL_START = 16;
  private static final int FORGET_AT = 24;
  private static final int CAPACITY = 32;
  private static final int SIZE = 40;
  /** A forget time this far (the year 287,396) means never; exact in the doubles of the Redis script. */
  static final long NEVER = MAX_EXACT;

  private final long initialTokens;
  private final long refillTokens;
  private final long intervalMillis;

  /**
   * @param initialTokens tokens of a new key, at least 0 (may exceed the capacity)
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

  /** Layout 2 (with the forget time and the capacity): a layout-1 key is never read as one of these. */
  @Override
  public int stateShape() {
    return Objects.hash("token_bucket/2", intervalMillis);
  }

  @Override
  public Verdict apply(StateBuffer state, long nowMillis, long hits, long limit) {
    long forgetAt = state.getLong(FORGET_AT);
    // Past its forget time a key is a new bucket, swept or not: 0 is a key never seen.
    boolean fresh = forgetAt == 0 || forgetAt <= nowMillis;
    long tokens;
    long start;
    if (fresh) {
      tokens = initialTokens;
      start = nowMillis;
    } else {
      // A lowered capacity clamps at once, initial burst included; otherwise a bucket keeps at most what a new one
      // would start with (less after a reload that lowered initial_tokens) or its capacity.
      long ceiling = limit < state.getLong(CAPACITY) ? limit : Math.max(limit, initialTokens);
      tokens = Math.min(state.getLong(TOKENS), ceiling);
      start = state.getLong(INTERVAL_START);
      // A clock that stepped back refills nothing until it passes the interval start again.
      long elapsed = nowMillis > start ? (nowMillis - start) / intervalMillis : 0;
      if (elapsed > 0) {
        if (tokens < limit) {
          tokens = elapsed >= ceilDiv(limit - tokens, refillTokens) ? limit : tokens + elapsed * refillTokens;
        }
        start += elapsed * intervalMillis;
      }
    }
    boolean admitted = hits <= tokens;
    if (admitted) {
      tokens -= hits;
    }
    // Only taking tokens changes the state, and the first request of a new bucket, even rejected, starts its refill
    // clock. A read (hits == 0) or a rejection of a known bucket writes nothing: rewriting a bucket capped at its
    // capacity would move its forget time, so a read would delay the return of the initial burst.
    if (hits > 0 && (admitted || fresh)) {
      long forget = forgetAt(tokens, start, limit);
      state.putLong(TOKENS, tokens);
      state.putLong(INTERVAL_START, start);
      state.putLong(FORGET_AT, forget);
      state.putLong(CAPACITY, limit);
      state.putLong(StateBuffer.EXPIRES_AT, forget);
    }
    long reset = tokens >= limit ? nowMillis : start + intervalMillis;
    return new Verdict(!admitted, limit, limit - tokens, tokens, reset);
  }

  /**
   * Gives the tokens back. Exact unless a later refill interval began since they were taken (a concurrent request
   * of a later time): then the bucket is not refilled above its capacity. A bucket our request created (new at this
   * very millisecond with its initial tokens back) is forgotten again, as if it had never been seen.
   */
  @Override
  public void refund(StateBuffer state, long nowMillis, long hits, long limit) {
    if (hits <= 0 || state.getLong(FORGET_AT) == 0) {
      return;
    }
    long tokens = state.getLong(TOKENS);
    long start = state.getLong(INTERVAL_START);
    long refunded = tokens > Long.MAX_VALUE - hits ? Long.MAX_VALUE : tokens + hits;
    if (start > nowMillis) {
      refunded = Math.min(refunded, Math.max(tokens, limit));
    }
    if (start == nowMillis && refunded == initialTokens) {
      for (int offset = 0; offset < SIZE; offset += Long.BYTES) {
        state.putLong(offset, 0);
      }
      return;
    }
    long forget = forgetAt(refunded, start, limit);
    state.putLong(TOKENS, refunded);
    state.putLong(FORGET_AT, forget);
    state.putLong(StateBuffer.EXPIRES_AT, forget);
  }

  /**
   * When an uncapped refill from {@code tokens} reaches {@code max(initialTokens, capacity)}: at least the end of the
   * current interval, at most {@link #NEVER}.
   */
  private long forgetAt(long tokens, long start, long limit) {
    long intervals = Math.max(1, ceilDiv(Math.max(initialTokens, limit) - tokens, refillTokens));
    return intervals > (NEVER - start) / intervalMillis ? NEVER : start + intervals * intervalMillis;
  }

  private static long ceilDiv(long a, long b) {
    return a <= 0 ? 0 : (a - 1) / b + 1;
  }

  @Override
  public <R> R accept(Visitor<R> visitor) {
    return visitor.tokenBucket(this);
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
