package dev.ratelimit.quota;

import dev.ratelimit.store.CounterKey;
import dev.ratelimit.store.CounterStore;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The dynamic quota of every organisation, kept in the {@link CounterStore} beside the counters (one
 * {@link QuotaLedger} per organisation), so that a persisted store keeps it across restarts. Used by the engine to read
 * the added quota of a {@code dynamic} rule and by the admin API to record volume and override quotas. Thread-safe.
 *
 * <p><b>Local copies.</b> A decision must not cost a store call of its own (on Redis, a second round trip per
 * request), and the added quota changes only at 10-minute boundaries or by {@code SetQuota}. So {@link #added} answers
 * from a copy of the organisation's quota for up to {@link #LOCAL_COPY_MILLIS} within one 10-minute period, and
 * reads the ledger again after that or at the next boundary. Volume recorded or a quota overridden through this book
 * applies at once; through another replica sharing the store, within {@link #LOCAL_COPY_MILLIS}.
 */
public final class QuotaBook {
  /** The largest volume one {@code RecordVolume} call may carry. */
  public static final BigDecimal MAX_USD_PER_RECORD = new BigDecimal("1e12");
  /** How far ahead of the server's clock a volume timestamp may be (it is then counted now). */
  public static final long MAX_CLOCK_SKEW_MILLIS = 60_000;

  /** How long an organisation's added quota is answered from a local copy before the ledger is read again. */
  public static final long LOCAL_COPY_MILLIS = 1_000;
  /** Organisations whose copies are kept; beyond that, all are dropped and read again. */
  private static final int MAX_LOCAL_COPIES = 100_000;

  /** The added quota of one organisation as read at {@code readAtMillis}, in force during {@code period}. */
  private record Copy(long added, long period, long readAtMillis) {
    boolean answers(long nowMillis) {
      return period == QuotaLedger.periodOf(nowMillis) && nowMillis >= readAtMillis
          && nowMillis - readAtMillis < LOCAL_COPY_MILLIS;
    }
  }

  /** The result of {@link #record}: whether the volume counted, and the quota afterwards. */
  public record Recorded(boolean counted, Quota quota) {}

  private final CounterStore store;
  private final QuotaLedger ledger;
  private final ThreadLocal<CounterKey> keys;
  private final ConcurrentHashMap<String, Copy> copies = new ConcurrentHashMap<>();

  /**
   * @param store where ledgers are kept
   * @param ledger the ledger algorithm with its rate
   * @param maxKeyBytes the store's longest key
   */
  public QuotaBook(CounterStore store, QuotaLedger ledger, int maxKeyBytes) {
    this.store = Objects.requireNonNull(store, "store");
    this.ledger = Objects.requireNonNull(ledger, "ledger");
    this.keys = ThreadLocal.withInitial(() -> new CounterKey(maxKeyBytes));
  }

  public QuotaLedger ledger() {
    return ledger;
  }

  /**
   * The added quota of {@code org} in force at {@code nowMillis}: 0 for an organisation never seen, and for an empty
   * one (a request without an organisation has no traded volume; the rule's base applies).
   */
  public long added(String org, long nowMillis) {
    if (org.isEmpty()) {
      return 0;
    }
    Copy copy = copies.get(org);
    if (copy != null && copy.answers(nowMillis)) {
      return copy.added();
    }
    long added = get(org, nowMillis).added();
    if (copies.size() >= MAX_LOCAL_COPIES) {
      copies.clear();
    }
    copies.put(org, new Copy(added, QuotaLedger.periodOf(nowMillis), nowMillis));
    return added;
  }

  /** The quota of {@code org} at {@code nowMillis}. */
  public Quota get(String org, long nowMillis) {
    return store.update(key(org), ledger.reading(), nowMillis);
  }

  /**
   * Adds {@code usd} of volume traded at {@code atMillis}. Volume too old for the next recomputation is accepted but
   * not counted; a timestamp up to {@link #MAX_CLOCK_SKEW_MILLIS} ahead counts as now.
   *
   * @throws IllegalArgumentException for an empty org, a negative or huge amount, or a timestamp in the future
   */
  public Recorded record(String org, BigDecimal usd, long atMillis, long nowMillis) {
    if (usd.signum() < 0 || usd.compareTo(MAX_USD_PER_RECORD) > 0) {
      throw new IllegalArgumentException("usd must be between 0 and " + MAX_USD_PER_RECORD.toPlainString()
          + ", not " + usd.toPlainString());
    }
    if (atMillis > nowMillis + MAX_CLOCK_SKEW_MILLIS) {
      throw new IllegalArgumentException("the timestamp is " + (atMillis - nowMillis)
          + " ms after the server's clock; omit it to record the volume now");
    }
    long micro = usd.movePointRight(6).setScale(0, RoundingMode.HALF_UP).longValueExact();
    byte[] key = key(org);
    copies.remove(org);
    boolean counted = store.update(key, ledger.recording(Math.min(atMillis, nowMillis), micro), nowMillis);
    return new Recorded(counted, store.update(key, ledger.reading(), nowMillis));
  }

  /** Overrides the computed added quota of {@code org} with {@code added} until cleared. */
  public Quota override(String org, long added, long nowMillis) {
    if (added < 0 || added > QuotaLedger.MAX_ADDED) {
      throw new IllegalArgumentException("added must be between 0 and " + QuotaLedger.MAX_ADDED + ", not " + added);
    }
    byte[] key = key(org);
    copies.remove(org);
    return store.update(key, ledger.overriding(added), nowMillis);
  }

  /** Removes the override of {@code org}: the computed quota is in force again. */
  public Quota clearOverride(String org, long nowMillis) {
    byte[] key = key(org);
    copies.remove(org);
    return store.update(key, ledger.overriding(-1), nowMillis);
  }

  /**
   * The ledger's key: its own state shape and an empty domain, which no request can carry. A very long org is kept
   * under its digest, like any counter key.
   */
  private byte[] key(String org) {
    if (org == null || org.isEmpty()) {
      throw new IllegalArgumentException("org must not be empty");
    }
    return keys.get().start(QuotaLedger.STATE_SHAPE, "").add("org", org).toBytes();
  }
}
