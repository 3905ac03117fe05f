package dev.ratelimit.limiter;

import java.time.Duration;
import java.util.Objects;

/**
 * The default algorithm: a window of length W divided into P slots of width W/P (DESIGN §3).
 *
 * <p>A hit ages out at the end of its slot plus W, so at any time the counted slots are the current one and the P
 * before it; the limiter never admits more than the limit within any true window of length W and is exact to within
 * one slot width.
 *
 * <p>State layout (little-endian): expiry millis (8 bytes), index of the newest slot (8 bytes), the sum of the ring
 * (4 bytes, unsigned), then a ring of P+1 unsigned slot counters of 1, 2 or 4 bytes each, the width chosen from the
 * rule's limit ({@link #counterBytesFor(long)}) so that a 60-slot window of a 30-per-minute plan takes 81 bytes, not
 * 264. The sum is recounted when time enters a new slot and kept up to date within it, so the many decisions of a busy
 * key inside one slot read one word instead of the whole ring. A hit
 * that would not fit in its slot's counter is rejected, never wrapped.
 */
public final class SlidingWindowLimiter implements Limiter {
  private static final int NEWEST_SLOT = 8;
  private static final int TOTAL = 16;
  private static final int SLOTS = 20;

  private final long windowMillis;
  private final int precision;
  private final long slotMillis;
  private final int ringSize;
  private final int counterBytes;
  private final long counterMax;

  /** A limiter with 4-byte counters, able to hold any limit Envoy can express. */
  public SlidingWindowLimiter(Duration window, int precision) {
    this(window, precision, Integer.BYTES);
  }

  /**
   * @param window the window length, a whole number of milliseconds
   * @param precision the number of slots; must divide the window's milliseconds
   * @param counterBytes width of a slot counter: 1, 2 or 4
   */
  public SlidingWindowLimiter(Duration window, int precision, int counterBytes) {
    this.windowMillis = window.toMillis();
    if (windowMillis <= 0 || precision <= 0 || windowMillis % precision != 0) {
      throw new IllegalArgumentException(
          "window of " + windowMillis + " ms cannot be divided into " + precision + " slots");
    }
    if (counterBytes != 1 && counterBytes != 2 && counterBytes != 4) {
      throw new IllegalArgumentException("counter width must be 1, 2 or 4 bytes, not " + counterBytes);
    }
    this.precision = precision;
    this.slotMillis = windowMillis / precision;
    this.ringSize = precision + 1;
    this.counterBytes = counterBytes;
    this.counterMax = (1L << (8 * counterBytes)) - 1;
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

  public int counterBytes() {
    return counterBytes;
  }

  @Override
  public int stateSize() {
    return SLOTS + counterBytes * ringSize;
  }

  @Override
  public int stateShape() {
    return Objects.hash("sliding_window", windowMillis, precision, counterBytes);
  }

  @Override
  public Verdict apply(StateBuffer state, long nowMillis, long hits, long limit) {
    long slot = Math.floorDiv(nowMillis, slotMillis);
    long newest = state.getLong(NEWEST_SLOT);
    long current;
    if (slot > newest) {
      long stale = Math.min(slot - newest, ringSize);
      for (long s = slot - stale + 1; s <= slot; s++) {
        write(state, offsetOf(s), 0);
      }
      // Recounted from the ring once per slot and key, so the total can never drift (not even after a kill).
      current = 0;
      for (int i = 0; i < ringSize; i++) {
        current += read(state, SLOTS + counterBytes * i);
      }
      state.putInt(TOTAL, (int) current);
      state.putLong(NEWEST_SLOT, slot);
      newest = slot;
    } else {
      current = Integer.toUnsignedLong(state.getInt(TOTAL));
    }
    // A clock that stepped back counts into the newest slot rather than rewriting history.
    int at = offsetOf(newest);
    long inSlot = read(state, at);
    boolean admitted = hits <= limit - current && hits <= counterMax - inSlot;
    if (admitted && hits > 0) {
      // Expiry first: a process killed between the writes leaves a later expiry, never a count the sweeper drops.
      state.putLong(StateBuffer.EXPIRES_AT, agesOutAt(newest));
      write(state, at, inSlot + hits);
      current += hits;
      state.putInt(TOTAL, (int) current);
    }
    return new Verdict(!admitted, limit, current, limit - current, resetAt(state, newest, nowMillis));
  }

  /** When the oldest non-empty slot ages out; {@code nowMillis} when the window is empty. */
  private long resetAt(StateBuffer state, long newest, long nowMillis) {
    for (long s = newest - precision; s <= newest; s++) {
      if (read(state, offsetOf(s)) != 0) {
        return agesOutAt(s);
      }
    }
    return nowMillis;
  }

  private long read(StateBuffer state, int offset) {
    return switch (counterBytes) {
      case 1 -> Byte.toUnsignedLong(state.getByte(offset));
      case 2 -> Short.toUnsignedLong(state.getShort(offset));
      default -> Integer.toUnsignedLong(state.getInt(offset));
    };
  }

  private void write(StateBuffer state, int offset, long value) {
    switch (counterBytes) {
      case 1 -> state.putByte(offset, (byte) value);
      case 2 -> state.putShort(offset, (short) value);
      default -> state.putInt(offset, (int) value);
    }
  }

  private long agesOutAt(long slot) {
    return (slot + 1 + precision) * slotMillis;
  }

  private int offsetOf(long slot) {
    return SLOTS + counterBytes * (int) Math.floorMod(slot, (long) ringSize);
  }

  /** Equal when the window, slots and counter width are: such limiters count identically. */
  @Override
  public boolean equals(Object o) {
    return o instanceof SlidingWindowLimiter other && windowMillis == other.windowMillis
        && precision == other.precision && counterBytes == other.counterBytes;
  }

  @Override
  public int hashCode() {
    return stateShape();
  }

  @Override
  public String toString() {
    return "sliding_window(window " + windowMillis + " ms, " + precision + " slots, " + counterBytes
        + "-byte counters)";
  }
}
