package dev.ratelimit.quota;

import dev.ratelimit.limiter.StateBuffer;
import dev.ratelimit.store.StateUpdate;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Duration;
import java.util.Objects;

/**
 * One organisation's dynamic-quota ledger (docs/algorithms.md, dynamic quota), as pure operations over its state: traded volume in 10-minute
 * slots covering a rolling day, and the added quota recomputed at each 10-minute boundary as
 * {@code floor(volume_24h × rate)}, unless {@code SetQuota} overrode it.
 *
 * <p><b>Recomputation.</b> Time is divided into periods of 10 minutes since the epoch. The added quota in force during
 * period {@code p} is computed from the volume of periods {@code p−144 .. p−1}, exactly the 24 hours before the
 * boundary that started {@code p}, and does not change until period {@code p+1}. It is computed lazily by the first
 * operation in period {@code p} (a decision, {@code GetQuota} or {@code RecordVolume}), before that operation changes
 * anything, so the result is the same whenever it runs: volume recorded during {@code p}, even with an earlier
 * timestamp, counts from the next boundary on. Volume older than the 144 periods before the next boundary is not
 * counted at all.
 *
 * <p><b>State</b> ({@value #STATE_SIZE} bytes, little-endian longs): {@code [0]} expiry millis (never while an override
 * is set, otherwise the boundary after which nothing recorded counts any more), {@code [8]} period of the last
 * recomputation, {@code [16]} the 24 h volume it saw (micro-USD), {@code [24]} the added quota it computed, {@code [32]}
 * the override plus one (0 = none), {@code [40]} newest period of the ring, {@code [48..]} the ring: 144 slots of
 * micro-USD, period {@code q} in slot {@code q mod 144}. Slot sums saturate at {@code Long.MAX_VALUE}. Immutable and
 * thread-safe (the store serialises operations on one key).
 */
public final class QuotaLedger {
  /** Width of one slot and the recomputation interval. */
  public static final long PERIOD_MILLIS = Duration.ofMinutes(10).toMillis();
  /** Slots in a rolling day. */
  public static final int SLOTS = 144;
  /** The rate the provider's documented table fits: $10k → 1, $100k → 11, $1M → 115 added requests. */
  public static final BigDecimal DEFAULT_RATE = new BigDecimal("0.000115");
  /** The largest added quota (Envoy's limits are uint32). */
  public static final long MAX_ADDED = 0xFFFF_FFFFL;
  /** Identifies ledger keys in the store, apart from every limiter's state. */
  public static final int STATE_SHAPE = Objects.hash("quota_ledger", PERIOD_MILLIS, SLOTS);

  private static final int COMPUTED_PERIOD = 8;
  private static final int COMPUTED_VOLUME = 16;
  private static final int COMPUTED_ADDED = 24;
  private static final int OVERRIDE = 32;
  private static final int NEWEST = 40;
  private static final int RING = 48;
  /** Bytes of one ledger. */
  public static final int STATE_SIZE = RING + SLOTS * Long.BYTES;

  private static final BigDecimal MAX_ADDED_DECIMAL = BigDecimal.valueOf(MAX_ADDED);

  private final BigDecimal rate;

  /** @param rate added requests per US dollar of 24 h volume, at least 0 */
  public QuotaLedger(BigDecimal rate) {
    if (rate.signum() < 0) {
      throw new IllegalArgumentException("the quota rate must be at least 0, not " + rate);
    }
    this.rate = rate;
  }

  public BigDecimal rate() {
    return rate;
  }

  /** {@code floor(volume × rate)}, at most {@link #MAX_ADDED}. */
  public long addedFor(long microUsd) {
    BigDecimal added = BigDecimal.valueOf(microUsd).multiply(rate).movePointLeft(6).setScale(0, RoundingMode.FLOOR);
    return added.min(MAX_ADDED_DECIMAL).longValueExact();
  }

  /** The period containing {@code millis}. */
  public static long periodOf(long millis) {
    return Math.floorDiv(millis, PERIOD_MILLIS);
  }

  /** The quota in force at {@code nowMillis}, recomputing it first when a boundary has passed. */
  public Quota read(StateBuffer s, long nowMillis) {
    catchUp(s, nowMillis);
    return snapshot(s);
  }

  /**
   * Adds volume traded at {@code atMillis} (not after {@code nowMillis}'s period). Returns false, recording nothing,
   * when it is too old to count in the next recomputation.
   */
  public boolean record(StateBuffer s, long nowMillis, long atMillis, long microUsd) {
    if (microUsd < 0) {
      throw new IllegalArgumentException("volume must be at least 0, not " + microUsd);
    }
    catchUp(s, nowMillis);
    long period = periodOf(atMillis);
    long newest = s.getLong(NEWEST);
    if (period > newest) {
      throw new IllegalArgumentException("volume at " + atMillis + " is after the current period");
    }
    if (period <= newest - SLOTS) {
      return false;
    }
    if (microUsd > 0) {
      int at = slot(period);
      long sum = s.getLong(at);
      s.putLong(at, sum > Long.MAX_VALUE - microUsd ? Long.MAX_VALUE : sum + microUsd);
      refreshExpiry(s);
    }
    return true;
  }

  /** Sets the override ({@code added ≥ 0}) or removes it ({@code added < 0}). */
  public Quota override(StateBuffer s, long nowMillis, long added) {
    if (added > MAX_ADDED) {
      throw new IllegalArgumentException("the added quota must be at most " + MAX_ADDED + ", not " + added);
    }
    catchUp(s, nowMillis);
    s.putLong(OVERRIDE, added < 0 ? 0 : added + 1);
    refreshExpiry(s);
    return snapshot(s);
  }

  /** {@link #read} as a store update. */
  public StateUpdate<Quota> reading() {
    return new Update<>(this::read);
  }

  /** {@link #record} as a store update, returning whether the volume counted. */
  public StateUpdate<Boolean> recording(long atMillis, long microUsd) {
    return new Update<>((s, now) -> record(s, now, atMillis, microUsd));
  }

  /** {@link #override} as a store update. */
  public StateUpdate<Quota> overriding(long added) {
    return new Update<>((s, now) -> override(s, now, added));
  }

  /**
   * At the first operation in a new period, sums the 144 periods before it into the snapshot, then frees the oldest
   * slot for the new period. A clock that stepped back recomputes nothing.
   */
  private void catchUp(StateBuffer s, long nowMillis) {
    long period = periodOf(nowMillis);
    if (period <= s.getLong(COMPUTED_PERIOD)) {
      return;
    }
    long newest = s.getLong(NEWEST);
    // The ring then holds exactly periods period-144 .. period-1.
    clear(s, newest, period - 1);
    long volume = 0;
    for (int i = 0; i < SLOTS; i++) {
      long v = s.getLong(RING + i * Long.BYTES);
      volume = volume > Long.MAX_VALUE - v ? Long.MAX_VALUE : volume + v;
    }
    s.putLong(COMPUTED_PERIOD, period);
    s.putLong(COMPUTED_VOLUME, volume);
    s.putLong(COMPUTED_ADDED, addedFor(volume));
    s.putLong(slot(period), 0); // held period-144, no longer counted after this recomputation
    s.putLong(NEWEST, period);
  }

  /** Zeroes the slots of periods {@code from+1 .. to} (at most the whole ring). */
  private static void clear(StateBuffer s, long from, long to) {
    long stale = Math.min(to - from, SLOTS);
    for (long p = to - stale + 1; p <= to; p++) {
      s.putLong(slot(p), 0);
    }
  }

  /**
   * Never expires with an override; otherwise at the boundary after which neither the ring nor the snapshot holds any
   * volume, when the state is worth exactly a fresh one (0 = nothing to keep).
   */
  private static void refreshExpiry(StateBuffer s) {
    long expiry = 0;
    if (s.getLong(OVERRIDE) != 0) {
      expiry = Long.MAX_VALUE;
    } else {
      long newest = s.getLong(NEWEST);
      for (long p = newest; p > newest - SLOTS; p--) {
        if (s.getLong(slot(p)) != 0) {
          expiry = (p + SLOTS + 1) * PERIOD_MILLIS;
          break;
        }
      }
      if (s.getLong(COMPUTED_VOLUME) != 0) {
        expiry = Math.max(expiry, (s.getLong(COMPUTED_PERIOD) + 1) * PERIOD_MILLIS);
      }
    }
    s.putLong(StateBuffer.EXPIRES_AT, expiry);
  }

  private Quota snapshot(StateBuffer s) {
    long computedPeriod = s.getLong(COMPUTED_PERIOD);
    long override = s.getLong(OVERRIDE);
    long computedAdded = s.getLong(COMPUTED_ADDED);
    long pending = s.getLong(slot(s.getLong(NEWEST)));
    return new Quota(override != 0 ? override - 1 : computedAdded, override != 0, computedAdded,
        s.getLong(COMPUTED_VOLUME), pending, computedPeriod * PERIOD_MILLIS, (computedPeriod + 1) * PERIOD_MILLIS);
  }

  private static int slot(long period) {
    return RING + Long.BYTES * (int) Math.floorMod(period, (long) SLOTS);
  }

  /** A ledger operation bound to its arguments. */
  private record Update<R>(Operation<R> operation) implements StateUpdate<R> {
    @Override
    public int stateSize() {
      return STATE_SIZE;
    }

    @Override
    public R apply(StateBuffer state, long nowMillis) {
      return operation.apply(state, nowMillis);
    }
  }

  @FunctionalInterface
  private interface Operation<R> {
    R apply(StateBuffer state, long nowMillis);
  }
}
