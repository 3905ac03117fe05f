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
 * <p>State: the wrapped algorithm's state (its own layout, expiry at bytes 0..7), then three little-endian longs at
 * offset {@code n = inner.stateSize()}: {@code [n]} penalty end millis (0 = none), {@code [n+8]} index of the window
 * the rejected hits were counted in, {@code [n+16]} rejected hits in that window. The expiry at 0..7 is the latest of
 * the wrapped expiry, the penalty end and the end of the rejection window.
 */
public final class PenaltyLimiter implements Limiter {
  private final Limiter inner;
  private final BigDecimal overFactor;
  private final long durationMillis;
  private final long windowMillis;
  private final int penaltyUntil;
  private final int rejectedWindow;
  private final int rejectedHits;

  /**
   * @param inner the rule's algorithm
   * @param overFactor at least 1; 1 means the first rejected request starts the penalty
   * @param duration how long a penalty lasts, at least 1 ms
   * @param window the window rejected hits are counted in, at least 1 ms
   */
  public PenaltyLimiter(Limiter inner, BigDecimal overFactor, Duration duration, Duration window) {
    this.inner = Objects.requireNonNull(inner, "inner");
    if (overFactor.compareTo(BigDecimal.ONE) < 0) {
      throw new IllegalArgumentException("the over factor must be at least 1, not " + overFactor);
    }
    this.overFactor = overFactor;
    this.durationMillis = duration.toMillis();
    this.windowMillis = window.toMillis();
    if (durationMillis < 1 || windowMillis < 1) {
      throw new IllegalArgumentException("the penalty duration and window must be at least 1 ms");
    }
    this.penaltyUntil = inner.stateSize();
    this.rejectedWindow = penaltyUntil + Long.BYTES;
    this.rejectedHits = rejectedWindow + Long.BYTES;
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
  public int stateSize() {
    return inner.stateSize() + 3 * Long.BYTES;
  }

  @Override
  public int stateShape() {
    return Objects.hash(inner.stateShape(), "penalty");
  }

  /** Rejected hits in one window beyond which the penalty starts: {@code floor((overFactor − 1) × limit)}. */
  long threshold(long limit) {
    BigDecimal t = overFactor.subtract(BigDecimal.ONE).multiply(BigDecimal.valueOf(limit))
        .setScale(0, RoundingMode.FLOOR);
    return t.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) >= 0 ? Long.MAX_VALUE : t.longValue();
  }

  @Override
  public Verdict apply(StateBuffer state, long nowMillis, long hits, long limit) {
    long until = state.getLong(penaltyUntil);
    if (until > nowMillis) {
      Verdict counted = inner.apply(state, nowMillis, 0, limit);
      // Reading may move the wrapped algorithm's expiry (a refilled bucket expires early); the penalty must outlive it.
      if (state.getLong(StateBuffer.EXPIRES_AT) < until) {
        state.putLong(StateBuffer.EXPIRES_AT, until);
      }
      return penalised(counted, until);
    }
    Verdict verdict = inner.apply(state, nowMillis, hits, limit);
    if (!verdict.overLimit() || hits == 0) {
      // The wrapped algorithm may have lowered the expiry below the end of a window that still counts rejections.
      if (state.getLong(rejectedHits) > 0) {
        long keep = (state.getLong(rejectedWindow) + 1) * windowMillis;
        if (state.getLong(StateBuffer.EXPIRES_AT) < keep) {
          state.putLong(StateBuffer.EXPIRES_AT, keep);
        }
      }
      return verdict;
    }
    long window = Math.floorDiv(nowMillis, windowMillis);
    long rejected = state.getLong(rejectedWindow) == window ? state.getLong(rejectedHits) : 0;
    rejected = rejected > Long.MAX_VALUE - hits ? Long.MAX_VALUE : rejected + hits;
    state.putLong(rejectedWindow, window);
    state.putLong(rejectedHits, rejected);
    long expiry = Math.max(state.getLong(StateBuffer.EXPIRES_AT), (window + 1) * windowMillis);
    if (rejected > threshold(limit)) {
      until = nowMillis > Long.MAX_VALUE - durationMillis ? Long.MAX_VALUE : nowMillis + durationMillis;
      state.putLong(penaltyUntil, until);
      // The next window starts the rejection count afresh once the penalty is over.
      state.putLong(rejectedHits, 0);
      expiry = Math.max(expiry, until);
      verdict = penalised(verdict, until);
    }
    state.putLong(StateBuffer.EXPIRES_AT, expiry);
    return verdict;
  }

  private static Verdict penalised(Verdict counted, long until) {
    return new Verdict(true, counted.limit(), counted.current(), Math.min(0, counted.remaining()),
        Math.max(until, counted.resetAtMillis()));
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
