package dev.ratelimit.quota;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.store.CounterStore;
import java.math.BigDecimal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The organisations' quotas kept in a real store: what {@code RecordVolume} and {@code SetQuota} accept. */
class QuotaBookTest {
  private static final long T0 = 1_767_225_600_000L; // 2026-01-01T00:00:00Z, a 10-minute boundary
  private static final long NEXT_PERIOD = T0 + QuotaLedger.PERIOD_MILLIS;

  private CounterStore store;
  private QuotaBook book;

  @BeforeEach
  void open() throws Exception {
    store = ChronicleMapStore.open(new ChronicleMapStore.Settings(1_000, 32, QuotaLedger.STATE_SIZE, null));
    book = new QuotaBook(store, new QuotaLedger(QuotaLedger.DEFAULT_RATE), 64);
  }

  @AfterEach
  void close() {
    store.close();
  }

  @Test
  void volumeFromZeroUpToATrillionDollarsPerRecordIsAccepted() {
    assertTrue(book.record("acme", BigDecimal.ZERO, T0, T0).counted());
    assertTrue(book.record("acme", QuotaBook.MAX_USD_PER_RECORD, T0, T0).counted());
    assertThrows(IllegalArgumentException.class, () -> book.record("acme", new BigDecimal("-0.01"), T0, T0));
    IllegalArgumentException huge = assertThrows(IllegalArgumentException.class,
        () -> book.record("acme", QuotaBook.MAX_USD_PER_RECORD.add(new BigDecimal("0.01")), T0, T0));
    assertTrue(huge.getMessage().contains("between 0 and 1000000000000"), huge.getMessage());
    assertEquals(115_000_000, book.added("acme", NEXT_PERIOD), "$1T at 0.000115 from the next boundary");
  }

  @Test
  void aTimestampUpToAMinuteAheadCountsAsNowAndLaterIsRefused() {
    book.record("acme", new BigDecimal("100000"), T0 + 60_000, T0);
    assertEquals(11, book.added("acme", NEXT_PERIOD), "counted now, in the current period");
    IllegalArgumentException ahead = assertThrows(IllegalArgumentException.class,
        () -> book.record("acme", BigDecimal.ONE, T0 + 60_001, T0));
    assertTrue(ahead.getMessage().contains("60001 ms after the server's clock"), ahead.getMessage());
  }

  @Test
  void amountsAreRoundedHalfUpToTheMicroDollar() {
    // $8,695.652174 × 0.000115 = 1.00000000001; $8,695.652173 × 0.000115 = 0.99999999990.
    book.record("up", new BigDecimal("8695.6521735"), T0, T0);
    assertEquals(1, book.added("up", NEXT_PERIOD), "half a micro-dollar rounds up");
    book.record("down", new BigDecimal("8695.6521734"), T0, T0);
    assertEquals(0, book.added("down", NEXT_PERIOD));
  }

  @Test
  void anOverrideIsBoundedByEnvoysUint32AndClearingItRestoresTheComputedQuota() {
    book.record("acme", new BigDecimal("100000"), T0, T0);
    assertEquals(0, book.override("acme", 0, NEXT_PERIOD).added());
    assertEquals(0, book.added("acme", NEXT_PERIOD), "an override of 0 is an override");
    assertEquals(QuotaLedger.MAX_ADDED, book.override("acme", QuotaLedger.MAX_ADDED, NEXT_PERIOD).added());
    assertThrows(IllegalArgumentException.class, () -> book.override("acme", -1, NEXT_PERIOD));
    assertThrows(IllegalArgumentException.class, () -> book.override("acme", QuotaLedger.MAX_ADDED + 1, NEXT_PERIOD));
    assertEquals(QuotaLedger.MAX_ADDED, book.added("acme", NEXT_PERIOD), "a refused override changed nothing");
    assertEquals(11, book.clearOverride("acme", NEXT_PERIOD).added());
    assertEquals(11, book.added("acme", NEXT_PERIOD));
  }

  @Test
  void anEmptyOrganisationHasNoQuotaAndCannotBeGivenOne() {
    assertEquals(0, book.added("", NEXT_PERIOD));
    assertThrows(IllegalArgumentException.class, () -> book.record("", BigDecimal.ONE, T0, T0));
    assertThrows(IllegalArgumentException.class, () -> book.override("", 5, T0));
    assertEquals(0, store.size(), "nothing stored for them");
    assertEquals(0, book.added("never-seen", NEXT_PERIOD));
    assertFalse(book.get("never-seen", NEXT_PERIOD).added() != 0);
  }

  @Test
  void aDecisionReadsTheLedgerAtMostOncePerSecondAndAtEachBoundary() {
    int[] ledgerReads = {0};
    CounterStore counting = new CountingUpdates(store, ledgerReads);
    QuotaBook decisions = new QuotaBook(counting, new QuotaLedger(QuotaLedger.DEFAULT_RATE), 64);
    book.record("acme", new BigDecimal("1000000"), T0, T0);
    for (long t = NEXT_PERIOD; t < NEXT_PERIOD + QuotaBook.LOCAL_COPY_MILLIS; t += 10) {
      assertEquals(115, decisions.added("acme", t));
    }
    assertEquals(1, ledgerReads[0], "100 decisions within a second: one ledger read");
    assertEquals(115, decisions.added("acme", NEXT_PERIOD + QuotaBook.LOCAL_COPY_MILLIS));
    assertEquals(2, ledgerReads[0], "read again once the copy is a second old");
    assertEquals(0, decisions.added("acme", NEXT_PERIOD + 24 * 6 * QuotaLedger.PERIOD_MILLIS));
    assertEquals(3, ledgerReads[0], "and at a boundary, where the quota may change: the volume has aged out");
  }

  @Test
  void anOverrideAppliesAtOnceThroughTheSameBookAndWithinASecondThroughAnother() {
    QuotaBook otherReplica = new QuotaBook(store, new QuotaLedger(QuotaLedger.DEFAULT_RATE), 64);
    assertEquals(0, book.added("acme", T0));
    assertEquals(0, otherReplica.added("acme", T0));
    book.override("acme", 40, T0 + 1);
    assertEquals(40, book.added("acme", T0 + 1), "the book that overrode answers with it at once");
    assertEquals(0, otherReplica.added("acme", T0 + QuotaBook.LOCAL_COPY_MILLIS - 1), "its copy is still fresh");
    assertEquals(40, otherReplica.added("acme", T0 + QuotaBook.LOCAL_COPY_MILLIS), "a second after its read");
    book.clearOverride("acme", T0 + 2_000);
    assertEquals(0, book.added("acme", T0 + 2_000));
    book.record("acme", new BigDecimal("1000000"), T0 + 2_000, T0 + 2_000);
    assertEquals(0, book.added("acme", T0 + 2_001), "recorded volume counts from the next boundary");
    assertEquals(115, book.added("acme", NEXT_PERIOD));
  }

  /** Counts the store updates (ledger reads and writes) made through it. */
  private static final class CountingUpdates implements CounterStore {
    private final CounterStore delegate;
    private final int[] updates;

    CountingUpdates(CounterStore delegate, int[] updates) {
      this.delegate = delegate;
      this.updates = updates;
    }

    @Override
    public dev.ratelimit.limiter.Verdict apply(byte[] key, dev.ratelimit.limiter.Limiter limiter, long nowMillis,
        long hits, long limit) {
      return delegate.apply(key, limiter, nowMillis, hits, limit);
    }

    @Override
    public void refund(byte[] key, dev.ratelimit.limiter.Limiter limiter, long nowMillis, long hits, long limit) {
      delegate.refund(key, limiter, nowMillis, hits, limit);
    }

    @Override
    public <R> R update(byte[] key, dev.ratelimit.store.StateUpdate<R> update, long nowMillis) {
      updates[0]++;
      return delegate.update(key, update, nowMillis);
    }

    @Override
    public long size() {
      return delegate.size();
    }

    @Override
    public void close() {
    }
  }
}
