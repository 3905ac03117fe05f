package dev.ratelimit.limiter;

import java.time.Duration;
import java.util.Objects;

/**
 * The default algorithm: a window of length W divided into P slots of width W/P (docs/algorithms.md).
 *
 * <p>A hit ages out at the end of its slot plus W, so at any time the counted slots are the current one and the P
 * before it; the limiter never admits more than the limit within any true window of length W and is exact to within
 * one slot width.
 *
 * <p>State layout (little-endian): expiry millis (8 bytes), index of the newest slot (8 bytes), the sum of the ring
 * (4 bytes, unsigned), then a ring of P+1 unsigned slot counters of 1, 2 or 4 bytes each. The width is a property of
 * the state, not of the limiter: a new key gets the narrowest counters that hold its limit
 * ({@link #counterBytesFor(long)}), so a 60-slot window of a 30-per-minute plan takes 81 bytes, not 264; a key whose
 * limit grows past its width (a reload, an Envoy override, a dynamic quota) has its ring widened in place by
 * {@link #resize}, keeping every count, and a key never narrows. The sum is recounted when time enters a new slot and
 * kept up to date within it, so the many decisions of a busy key inside one slot read one word instead of the ring.
 * A clock that stepped back (or a request that read the clock just before another one started a new slot) counts into
 * the newest slot rather than rewriting history.
 */
public final class SlidingWindowLimiter implements Limiter {
  private static final int NEWEST_SLOT = 8;
  private static final int TOTAL = 16;
  private static final int SLOTS = 20;

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

  /** The narrowest counter that holds {@code limit} hits in one slot. */
  public static int counterBytesFor(long limit) {
    return limit <= 0xFF ? 1 : limit <= 0xFFFF ? 2 : Integer.BYTES;
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

  /** Bytes of a state with counters of {@code counterBytes}. */
  public int stateSizeFor(int counterBytes) {
    return SLOTS + counterBytes * ringSize;
  }

  @Override
  public int stateSize(int storedBytes, long limit) {
    return stateSizeFor(Math.max(counterBytesOf(storedBytes), counterBytesFor(limit)));
  }

  /** The counter width of a stored state of this limiter, 0 when the size is not one of its layouts. */
  private int counterBytesOf(int stateBytes) {
    int ring = stateBytes - SLOTS;
    if (ring <= 0 || ring % ringSize != 0) {
      return 0;
    }
    int width = ring / ringSize;
    return width == 1 || width == 2 || width == Integer.BYTES ? width : 0;
  }

  @Override
  public void resize(StateBuffer from, StateBuffer to) {
    int fromWidth = counterBytesOf(from.size());
    int toWidth = counterBytesOf(to.size());
    if (fromWidth == 0 || toWidth < fromWidth) {
      return; // not a state of this limiter, or narrower: nothing to keep (never happens: keys only widen)
    }
    to.putLong(StateBuffer.EXPIRES_AT, from.getLong(StateBuffer.EXPIRES_AT));
    to.putLong(NEWEST_SLOT, from.getLong(NEWEST_SLOT));
    to.putInt(TOTAL, from.getInt(TOTAL));
    for (int i = 0; i < ringSize; i++) {
      write(to, toWidth, SLOTS + toWidth * i, read(from, fromWidth, SLOTS + fromWidth * i));
    }
  }

  @Override
  public int stateShape() {
    return Objects.hash("sliding_window", windowMillis, precision);
  }

  @Override
  public Verdict apply(StateBuffer state, long nowMillis, long hits, long limit) {
    int width = counterBytesOf(state.size());
    long slot = Math.floorDiv(nowMillis, slotMillis);
    long newest = state.getLong(NEWEST_SLOT);
    long current;
    if (slot > newest) {
      long stale = Math.min(slot - newest, ringSize);
      for (long s = slot - stale + 1; s <= slot; s++) {
        write(state, width, offsetOf(s, width), 0);
      }
      // Recounted from the ring once per slot and key, so the total can never drift (not even after a kill).
      current = 0;
      for (int i = 0; i < ringSize; i++) {
        current += read(state, width, SLOTS + width * i);
      }
      state.putInt(TOTAL, (int) current);
      state.putLong(NEWEST_SLOT, slot);
      newest = slot;
    } else {
      current = Integer.toUnsignedLong(state.getInt(TOTAL));
    }
    // A clock that stepped back counts into the newest slot rather than rewriting history.
    int at = offsetOf(newest, width);
    long inSlot = read(state, width, at);
    boolean admitted = hits <= limit - current && hits <= counterMax(width) - inSlot;
    if (admitted && hits > 0) {
      // Expiry first: a process killed between the writes leaves a later expiry, never a count the sweeper drops.
      state.putLong(StateBuffer.EXPIRES_AT, agesOutAt(newest));
      write(state, width, at, inSlot + hits);
      current += hits;
      state.putInt(TOTAL, (int) current);
    }
    return new Verdict(!admitted, limit, current, limit - current, resetAt(state, width, newest, nowMillis));
  }

  /**
   * Takes the hits back from the slot of {@code nowMillis}, where {@link #apply} recorded them unless a newer slot had
   * started (then it recorded them in the newest slot of that moment): any remainder is taken from the following
   * slots, oldest first. A slot taken from in error is older than the right one, so the error can only keep a hit
   * longer, never let one age out early.
   */
  @Override
  public void refund(StateBuffer state, long nowMillis, long hits, long limit) {
    int width = counterBytesOf(state.size());
    long newest = state.getLong(NEWEST_SLOT);
    long remaining = hits;
    for (long s = Math.max(Math.floorDiv(nowMillis, slotMillis), newest - precision); s <= newest && remaining > 0
        && width > 0; s++) {
      int at = offsetOf(s, width);
      long taken = Math.min(remaining, read(state, width, at));
      write(state, width, at, read(state, width, at) - taken);
      state.putInt(TOTAL, (int) (Integer.toUnsignedLong(state.getInt(TOTAL)) - taken));
      remaining -= taken;
    }
  }

  /** When the oldest non-empty slot ages out; {@code nowMillis} when the window is empty. */
  private long resetAt(StateBuffer state, int width, long newest, long nowMillis) {
    for (long s = newest - precision; s <= newest; s++) {
      if (read(state, width, offsetOf(s, width)) != 0) {
        return agesOutAt(s);
      }
    }
    return nowMillis;
  }

  private static long counterMax(int width) {
    return (1L << (8 * width)) - 1;
  }

  private static long read(StateBuffer state, int width, int offset) {
    return switch (width) {
      case 1 -> Byte.toUnsignedLong(state.getByte(offset));
      case 2 -> Short.toUnsignedLong(state.getShort(offset));
      default -> Integer.toUnsignedLong(state.getInt(offset));
    };
  }

  private static void write(StateBuffer state, int width, int offset, long value) {
    switch (width) {
      case 1 -> state.putByte(offset, (byte) value);
      case 2 -> state.putShort(offset, (short) value);
      default -> state.putInt(offset, (int) value);
    }
  }

  private long agesOutAt(long slot) {
    return (slot + 1 + precision) * slotMillis;
  }

  private int offsetOf(long slot, int width) {
    return SLOTS + width * (int) Math.floorMod(slot, (long) ringSize);
  }

  @Override
  public <R> R accept(Visitor<R> visitor) {
    return visitor.slidingWindow(this);
  }

  /** Equal when the window and slots are: such limiters count identically. */
  @Override
  public boolean equals(Object o) {
    return o instanceof SlidingWindowLimiter other && windowMillis == other.windowMillis
        && precision == other.precision;
  }

  @Override
  public int hashCode() {
    return stateShape();
  }

  @Override
  public String toString() {
    return "sliding_window(window " + windowMillis + " ms, " + precision + " slots)";
  }
}
