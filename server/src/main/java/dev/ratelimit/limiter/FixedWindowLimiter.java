package dev.ratelimit.limiter;

import java.time.Duration;
import java.util.Objects;

/**
 * envoyproxy/ratelimit's algorithm: one counter per window, windows aligned to the Unix epoch (a minute window runs
 * from :00 to :59), the counter starting again from zero at each boundary.
 *
 * <p>One difference from envoyproxy/ratelimit, on purpose: a rejected request is <b>not</b> counted. envoyproxy
 * increments its counter before comparing (Redis {@code INCRBY}), so a request that was refused still uses up the
 * window: with a limit of 10 and 9 counted, a request of 5 hits is refused and leaves 14 counted there, so a following
 * single hit is refused too. Here it leaves 9 and the single hit is admitted (no lockout, docs/algorithms.md). Within a window
 * neither can admit more than the limit.
 *
 * <p>State (24 bytes, little-endian longs): {@code [0]} expiry millis (the window's end), {@code [8]} window index
 * ({@code floor(epochMillis / windowMillis)}), {@code [16]} hits admitted in that window.
 */
public final class FixedWindowLimiter implements Limiter {
  private static final int WINDOW = 8;
  private static final int COUNT = 16;
  private static final int SIZE = 24;

  private final long windowMillis;

  /** @param window the window length; windows start at whole multiples of it since the epoch */
  public FixedWindowLimiter(Duration window) {
    this.windowMillis = window.toMillis();
    if (windowMillis <= 0) {
      throw new IllegalArgumentException("the window must be at least 1 ms, not " + window);
    }
  }

  public long windowMillis() {
    return windowMillis;
  }

  @Override
  public int stateSize(int storedBytes, long limit) {
    return SIZE;
  }

  @Override
  public int stateShape() {
    return Objects.hash("fixed_window", windowMillis);
  }

  @Override
  public Verdict apply(StateBuffer state, long nowMillis, long hits, long limit) {
    long window = Math.floorDiv(nowMillis, windowMillis);
    long stored = state.getLong(WINDOW);
    // A clock that stepped back keeps counting into the newest window rather than rewriting history.
    long current = window < stored ? stored : window;
    long count = current == stored ? state.getLong(COUNT) : 0;
    boolean admitted = hits <= limit - count;
    if (admitted && hits > 0) {
      count += hits;
      state.putLong(WINDOW, current);
      state.putLong(COUNT, count);
      state.putLong(StateBuffer.EXPIRES_AT, (current + 1) * windowMillis);
    }
    return new Verdict(!admitted, limit, count, limit - count, (current + 1) * windowMillis);
  }

  @Override
  public void refund(StateBuffer state, long nowMillis, long hits, long limit) {
    // Only into the window the hits went to; a newer window started meanwhile has forgotten them anyway.
    if (hits > 0 && state.getLong(WINDOW) == Math.floorDiv(nowMillis, windowMillis)) {
      state.putLong(COUNT, Math.max(0, state.getLong(COUNT) - hits));
    }
  }

  @Override
  public <R> R accept(Visitor<R> visitor) {
    return visitor.fixedWindow(this);
  }

  /** Equal when the windows are: such limiters count identically. */
  @Override
  public boolean equals(Object o) {
    return o instanceof FixedWindowLimiter other && windowMillis == other.windowMillis;
  }

  @Override
  public int hashCode() {
    return stateShape();
  }

  @Override
  public String toString() {
    return "fixed_window(window " + windowMillis + " ms)";
  }
}
