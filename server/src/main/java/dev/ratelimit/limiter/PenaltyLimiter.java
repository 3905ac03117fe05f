package dev.ratelimit.limiter;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Duration;
import java.util.Objects;

/**
 * The optional per-rule penalty ({@code rate_limit.penalty}): wraps any algorithm and, once a client keeps sending
 * while over its limit, rejects it for a fixed time even after its window frees.
 *
 * <p>The trigger: the hits <em>rejected</em> within one window exceed {@code (overFactor − 1) × limit}, that is a
 * client at its limit sent more than {@code overFactor} times its limit in one window. Rejected hits are counted in
 * windows aligned to the epoch, of the wrapped rule's window length (for a token bucket: its refill interval). From
 * the rejection that crosses the threshold, every request is rejected (and not recorded by the wrapped algorithm)
 * until {@code duration} later; requests during the penalty do not extend it. Verdicts during the penalty report the
 * wrapped algorithm's count, {@code remaining} at most 0, and the penalty's end as the reset. This is the one place
 * where rejected requests are counted, which is why it is off unless configured.
 *
 * <p>State: the expiry at bytes 0..7 (shared with the wrapped algorithm), then three little-endian longs:
 * {@code [8]} penalty end millis (0 = none), {@code [16]} index of the window the rejected hits were counted in,
 * {@code [24]} rejected hits in that window; then the rest of the wrapped algorithm's state (its bytes 8 and on), which
 * may grow (a sliding window widening its counters) without moving the penalty's fields. The expiry is the latest of
 * the wrapped expiry, the penalty end and the end of the rejection window.
 */
public final class PenaltyLimiter implements Limiter {
  private final Limiter inner;
  private final BigDecimal overFactor;
  private final long durationMillis;
  private final long windowMillis;
  private static final int PENALTY_UNTIL = 8;
  private static final int REJECTED_WINDOW = 16;
  private static final int REJECTED_HITS = 24;
  /** Bytes of the penalty's own fields, between the expiry and the wrapped algorithm's other bytes. */
  private static final int OWN_BYTES = 3 * Long.BYTES;

  /**
   * @param inner the rule's algorithm: a counting one (not a penalty, not unlimited)
   * @param overFactor at least 1; 1 means the first rejected request starts the penalty
   * @param duration how long a penalty lasts, at least 1 ms
   * @param window the window rejected hits are counted in, at least 1 ms
   */
  public PenaltyLimiter(Limiter inner, BigDecimal overFactor, Duration duration, Duration window) {
    this.inner = Objects.requireNonNull(inner, "inner");
    if (inner instanceof PenaltyLimiter || inner instanceof UnlimitedLimiter) {
      throw new IllegalArgumentException("a penalty wraps a counting algorithm, not " + inner);
    }
    if (overFactor.compareTo(BigDecimal.ONE) < 0) {
      throw new IllegalArgumentException("the over factor must be at least 1, not " + overFactor);
    }
    this.overFactor = overFactor;
    this.durationMillis = duration.toMillis();
    this.windowMillis = window.toMillis();
    if (durationMillis < 1 || windowMillis < 1) {
      throw new IllegalArgumentException("the penalty duration and window must be at least 1 ms");
    }
  }

  public Limiter inner() {
    return inner;
  }

  public BigDecimal overFactor() {
    return overFactor;
  }

  public long durationMillis() {
    return durationMillis;
  }

  /** Length of the windows rejected hits are counted in. */
  public long windowMillis() {
    return windowMillis;
  }

  @Override
  public int stateSize(int storedBytes, long limit) {
    return OWN_BYTES + inner.stateSize(Math.max(0, storedBytes - OWN_BYTES), limit);
  }

  @Override
  public void resize(StateBuffer from, StateBuffer to) {
    if (from.size() <= OWN_BYTES + StateBuffer.EXPIRES_AT + Long.BYTES) {
      return;
    }
    for (int offset = PENALTY_UNTIL; offset <= REJECTED_HITS; offset += Long.BYTES) {
      to.putLong(offset, from.getLong(offset));
    }
    inner.resize(new Inner(from), new Inner(to));
  }

  @Override
  public int stateShape() {
    return Objects.hash(inner.stateShape(), "penalty");
  }

  /** Rejected hits in one window beyond which the penalty starts: {@code floor((overFactor − 1) × limit)}. */
  public long threshold(long limit) {
    BigDecimal t = overFactor.subtract(BigDecimal.ONE).multiply(BigDecimal.valueOf(limit))
        .setScale(0, RoundingMode.FLOOR);
    return t.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) >= 0 ? Long.MAX_VALUE : t.longValue();
  }

  @Override
  public Verdict apply(StateBuffer state, long nowMillis, long hits, long limit) {
    long until = state.getLong(PENALTY_UNTIL);
    if (until > nowMillis) {
      Verdict counted = inner.apply(new Inner(state), nowMillis, 0, limit);
      // Reading may move the wrapped algorithm's expiry (a refilled bucket expires early); the penalty must outlive it.
      if (state.getLong(StateBuffer.EXPIRES_AT) < until) {
        state.putLong(StateBuffer.EXPIRES_AT, until);
      }
      return penalised(counted, until);
    }
    Verdict verdict = inner.apply(new Inner(state), nowMillis, hits, limit);
    if (!verdict.overLimit() || hits == 0) {
      // The wrapped algorithm may have lowered the expiry below the end of a window that still counts rejections.
      if (state.getLong(REJECTED_HITS) > 0) {
        long keep = (state.getLong(REJECTED_WINDOW) + 1) * windowMillis;
        if (state.getLong(StateBuffer.EXPIRES_AT) < keep) {
          state.putLong(StateBuffer.EXPIRES_AT, keep);
        }
      }
      return verdict;
    }
    long window = Math.floorDiv(nowMillis, windowMillis);
    long rejected = state.getLong(REJECTED_WINDOW) == window ? state.getLong(REJECTED_HITS) : 0;
    rejected = rejected > Long.MAX_VALUE - hits ? Long.MAX_VALUE : rejected + hits;
    state.putLong(REJECTED_WINDOW, window);
    state.putLong(REJECTED_HITS, rejected);
    long expiry = Math.max(state.getLong(StateBuffer.EXPIRES_AT), (window + 1) * windowMillis);
    if (rejected > threshold(limit)) {
      until = nowMillis > Long.MAX_VALUE - durationMillis ? Long.MAX_VALUE : nowMillis + durationMillis;
      state.putLong(PENALTY_UNTIL, until);
      // The next window starts the rejection count afresh once the penalty is over.
      state.putLong(REJECTED_HITS, 0);
      expiry = Math.max(expiry, until);
      verdict = penalised(verdict, until);
    }
    state.putLong(StateBuffer.EXPIRES_AT, expiry);
    return verdict;
  }

  /**
   * Takes back admitted hits from the wrapped algorithm; a penalty and its rejected hits stay as they are. A key that
   * never had a rejection holds only the wrapped algorithm's state, and expires as that says (at once when the refund
   * forgot it).
   */
  @Override
  public void refund(StateBuffer state, long nowMillis, long hits, long limit) {
    long expiry = state.getLong(StateBuffer.EXPIRES_AT);
    inner.refund(new Inner(state), nowMillis, hits, limit);
    // The wrapped algorithm may move the shared expiry earlier; the penalty's fields, once written, must outlive it.
    if (state.getLong(REJECTED_WINDOW) != 0 || state.getLong(PENALTY_UNTIL) != 0) {
      state.putLong(StateBuffer.EXPIRES_AT, Math.max(expiry, state.getLong(StateBuffer.EXPIRES_AT)));
    }
  }

  private static Verdict penalised(Verdict counted, long until) {
    return new Verdict(true, counted.limit(), counted.current(), Math.min(0, counted.remaining()),
        Math.max(until, counted.resetAtMillis()));
  }

  /** The wrapped algorithm's view of the state: its expiry at 0..7, its other bytes after the penalty's fields. */
  private static final class Inner implements StateBuffer {
    private final StateBuffer state;

    Inner(StateBuffer state) {
      this.state = state;
    }

    private static int at(int offset) {
      return offset < Long.BYTES ? offset : offset + OWN_BYTES;
    }

    @Override
    public int size() {
      return state.size() - OWN_BYTES;
    }

    @Override
    public long getLong(int offset) {
      return state.getLong(at(offset));
    }

    @Override
    public void putLong(int offset, long value) {
      state.putLong(at(offset), value);
    }

    @Override
    public int getInt(int offset) {
      return state.getInt(at(offset));
    }

    @Override
    public void putInt(int offset, int value) {
      state.putInt(at(offset), value);
    }

    @Override
    public short getShort(int offset) {
      return state.getShort(at(offset));
    }

    @Override
    public void putShort(int offset, short value) {
      state.putShort(at(offset), value);
    }

    @Override
    public byte getByte(int offset) {
      return state.getByte(at(offset));
    }

    @Override
    public void putByte(int offset, byte value) {
      state.putByte(at(offset), value);
    }
  }

  @Override
  public <R> R accept(Visitor<R> visitor) {
    return visitor.penalty(this);
  }

  /** Equal when the wrapped algorithm and the penalty parameters are. */
  @Override
  public boolean equals(Object o) {
    return o instanceof PenaltyLimiter other && inner.equals(other.inner)
        && overFactor.compareTo(other.overFactor) == 0 && durationMillis == other.durationMillis
        && windowMillis == other.windowMillis;
  }

  @Override
  public int hashCode() {
    return Objects.hash(inner, overFactor.stripTrailingZeros(), durationMillis, windowMillis);
  }

  @Override
  public String toString() {
    return inner + " with penalty(over factor " + overFactor.toPlainString() + ", " + durationMillis + " ms, window "
        + windowMillis + " ms)";
  }
}
