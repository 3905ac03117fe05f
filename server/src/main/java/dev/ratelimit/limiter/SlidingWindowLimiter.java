package dev.ratelimit.limiter;

import java.time.Duration;
import java.util.Objects;

/**
 * The default algorithm: a window of length W divided into P slots of width W/P (DESIGN §3).
 *
 * <p>A hit ages out at the end of its slot plus W, so at any time the counted slots are the current one and the P
 * before it; the limiter never admits more than the limit within any true window of length W and is exact to within
 * one slot width. State: expiry time, index of the newest slot, and a ring of P+1 slot counters.
 */
public final class SlidingWindowLimiter implements Limiter {
  private static final int NEWEST_SLOT = 8;
  private static final int SLOTS = 16;

  private final long windowMillis;
  private final int precision;
  private final long slotMillis;
  private final int ringSize;

  /**
   * @param window the window length, a whole number of milliseconds
   * @param precision the number of slots; must divide the window's milliseconds
   */
  public SlidingWindowLimiter(Duration window, int precision) {
    this.windowMillis = window.toMillis();
    if (windowMillis <= 0 || precision <= 0 || windowMillis % precision != 0) {
      throw new IllegalArgumentException(
          "window of " + windowMillis + " ms cannot be divided into " + precision + " slots");
    }
    this.precision = precision;
    this.slotMillis = windowMillis / precision;
    this.ringSize = precision + 1;
  }

  /** The default number of slots for a window: the largest divisor of its milliseconds that is at most 60. */
  public static int defaultPrecision(Duration window) {
    long millis = window.toMillis();
    for (int p = 60; p > 1; p--) {
      if (millis % p == 0) {
        return p;
      }
    }
    return 1;
  }

  public long windowMillis() {
    return windowMillis;
  }

  public int precision() {
    return precision;
  }

  public long slotMillis() {
    return slotMillis;
  }

  @Override
  public int stateSize() {
    return SLOTS + Integer.BYTES * ringSize;
  }

  @Override
  public int stateShape() {
    return Objects.hash("sliding_window", windowMillis, precision);
  }

  @Override
  public Verdict apply(StateBuffer state, long nowMillis, long hits, long limit) {
    long slot = Math.floorDiv(nowMillis, slotMillis);
    long newest = state.getLong(NEWEST_SLOT);
    if (slot > newest) {
      long stale = Math.min(slot - newest, ringSize);
      for (long s = slot - stale + 1; s <= slot; s++) {
        state.putInt(offsetOf(s), 0);
      }
      state.putLong(NEWEST_SLOT, slot);
      newest = slot;
    }
    // A clock that stepped back counts into the newest slot rather than rewriting history.
    long current = 0;
    for (int i = 0; i < ringSize; i++) {
      current += Integer.toUnsignedLong(state.getInt(SLOTS + Integer.BYTES * i));
    }
    boolean admitted = hits <= limit - current;
    if (admitted && hits > 0) {
      int at = offsetOf(newest);
      state.putInt(at, (int) (Integer.toUnsignedLong(state.getInt(at)) + hits));
      current += hits;
      state.putLong(StateBuffer.EXPIRES_AT, agesOutAt(newest));
    }
    return new Verdict(!admitted, limit, current, limit - current, resetAt(state, newest, nowMillis));
  }

  /** When the oldest non-empty slot ages out; {@code nowMillis} when the window is empty. */
  private long resetAt(StateBuffer state, long newest, long nowMillis) {
    for (long s = newest - precision; s <= newest; s++) {
      if (state.getInt(offsetOf(s)) != 0) {
        return agesOutAt(s);
      }
    }
    return nowMillis;
  }

  private long agesOutAt(long slot) {
    return (slot + 1 + precision) * slotMillis;
  }

  private int offsetOf(long slot) {
    return SLOTS + Integer.BYTES * (int) Math.floorMod(slot, (long) ringSize);
  }
}
