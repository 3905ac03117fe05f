package dev.ratelimit.quota;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.limiter.HeapStateBuffer;
import java.math.BigDecimal;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The rolling-day volume ledger and its 10-minute recomputation (docs/algorithms.md, dynamic quota), on a heap state. */
class QuotaLedgerTest {
  private static final long T0 = 1_767_225_600_000L; // 2026-01-01T00:00:00Z, a 10-minute boundary
  private static final long TEN_MINUTES = Duration.ofMinutes(10).toMillis();
  private static final long DAY = Duration.ofDays(1).toMillis();

  private final QuotaLedger ledger = new QuotaLedger(QuotaLedger.DEFAULT_RATE);
  private final HeapStateBuffer state = new HeapStateBuffer(new byte[QuotaLedger.STATE_SIZE]);

  private static long usd(long dollars) {
    return dollars * 1_000_000;
  }

  @Test
  void theDefaultRateReproducesTheDocumentedTable() {
    assertEquals(0, ledger.addedFor(0));
    assertEquals(0, ledger.addedFor(usd(8_695)), "$8,695 × 0.000115 = 0.99");
    assertEquals(1, ledger.addedFor(usd(10_000)));
    assertEquals(11, ledger.addedFor(usd(100_000)));
    assertEquals(115, ledger.addedFor(usd(1_000_000)));
    assertEquals(1_060_687_784, ledger.addedFor(Long.MAX_VALUE), "the largest volume a ledger holds");
    assertEquals(QuotaLedger.MAX_ADDED, new QuotaLedger(BigDecimal.ONE).addedFor(Long.MAX_VALUE),
        "capped at Envoy's uint32");
  }

  @Test
  void volumeCountsFromTheNextBoundaryAndTheQuotaHoldsBetweenBoundaries() {
    long now = T0 + 3 * 60_000;
    assertTrue(ledger.record(state, now, now, usd(1_000_000)));
    Quota same = ledger.read(state, T0 + TEN_MINUTES - 1);
    assertEquals(0, same.added(), "not before the next recomputation");
    assertEquals(usd(1_000_000), same.pendingMicroUsd());
    Quota next = ledger.read(state, T0 + TEN_MINUTES);
    assertEquals(115, next.added());
    assertEquals(usd(1_000_000), next.volumeMicroUsd());
    assertEquals(T0 + TEN_MINUTES, next.computedAtMillis());
    assertEquals(T0 + 2 * TEN_MINUTES, next.nextComputationMillis());
    // Volume recorded now, even backdated into an already-counted period, waits for the next boundary.
    assertTrue(ledger.record(state, T0 + TEN_MINUTES + 1, T0 + 1, usd(1_000_000)));
    assertEquals(115, ledger.read(state, T0 + 2 * TEN_MINUTES - 1).added());
    assertEquals(230, ledger.read(state, T0 + 2 * TEN_MINUTES).added());
  }

  @Test
  void volumeOlderThanADayStopsCountingAtTheNextRecomputation() {
    long tradedAt = T0 + 5 * 60_000; // in period [T0, T0+10m)
    ledger.record(state, tradedAt, tradedAt, usd(1_000_000));
    assertEquals(115, ledger.read(state, T0 + TEN_MINUTES).added());
    // The recomputation at T0+24h covers [T0, T0+24h): still counted, until the next boundary.
    assertEquals(115, ledger.read(state, T0 + DAY).added());
    assertEquals(115, ledger.read(state, T0 + DAY + TEN_MINUTES - 1).added(), "held until the next recomputation");
    Quota after = ledger.read(state, T0 + DAY + TEN_MINUTES);
    assertEquals(0, after.added());
    assertEquals(0, after.volumeMicroUsd());
  }

  @Test
  void aRollingDaySumsEverySlot() {
    for (int slot = 0; slot < 144; slot++) {
      long at = T0 + slot * TEN_MINUTES;
      ledger.record(state, at, at, usd(10_000));
    }
    assertEquals(165, ledger.read(state, T0 + DAY).added(), "$1.44M over 144 slots → floor(165.6)");
    assertEquals(164, ledger.read(state, T0 + DAY + TEN_MINUTES).added(), "the first slot aged out: $1.43M");
  }

  @Test
  void volumeTooOldForTheNextRecomputationIsNotCounted() {
    long now = T0 + DAY + 5 * 60_000;
    assertFalse(ledger.record(state, now, T0 + 4 * 60_000, usd(1_000_000)), "period T0 is out at the next boundary");
    assertTrue(ledger.record(state, now, T0 + TEN_MINUTES, usd(10_000)));
    assertEquals(1, ledger.read(state, T0 + DAY + TEN_MINUTES).added());
  }

  @Test
  void anOverrideWinsUntilCleared() {
    ledger.record(state, T0, T0, usd(100_000));
    Quota overridden = ledger.override(state, T0 + 1, 500);
    assertEquals(500, overridden.added());
    assertTrue(overridden.overridden());
    assertEquals(Long.MAX_VALUE, HeapStateBuffer.expiresAt(state.bytes()), "kept as long as the override stands");
    assertEquals(500, ledger.read(state, T0 + TEN_MINUTES).added());
    assertEquals(11, ledger.read(state, T0 + TEN_MINUTES).computedAdded());
    Quota cleared = ledger.override(state, T0 + TEN_MINUTES, -1);
    assertFalse(cleared.overridden());
    assertEquals(11, cleared.added());
    assertThrows(IllegalArgumentException.class, () -> ledger.override(state, T0, QuotaLedger.MAX_ADDED + 1));
  }

  @Test
  void expiresWhenNothingRecordedCountsAnyMore() {
    long at = T0 + 60_000;
    ledger.record(state, at, at, usd(1));
    assertEquals(T0 + 145 * TEN_MINUTES, HeapStateBuffer.expiresAt(state.bytes()));
    HeapStateBuffer fresh = new HeapStateBuffer(new byte[QuotaLedger.STATE_SIZE]);
    assertEquals(0, ledger.read(fresh, T0).added());
    assertEquals(0, HeapStateBuffer.expiresAt(fresh.bytes()), "reading an organisation never seen keeps nothing");
  }

  @Test
  void aLongIdleLedgerForgetsEverything() {
    ledger.record(state, T0, T0, usd(1_000_000));
    assertEquals(115, ledger.read(state, T0 + TEN_MINUTES).added());
    assertEquals(0, ledger.read(state, T0 + 30 * DAY).added());
    ledger.record(state, T0 + 30 * DAY, T0 + 30 * DAY, usd(10_000));
    assertEquals(1, ledger.read(state, T0 + 30 * DAY + TEN_MINUTES).added());
  }

  @Test
  void theRateIsConfigurable() {
    QuotaLedger generous = new QuotaLedger(new BigDecimal("0.001"));
    HeapStateBuffer s = new HeapStateBuffer(new byte[QuotaLedger.STATE_SIZE]);
    generous.record(s, T0, T0, usd(10_000));
    assertEquals(10, generous.read(s, T0 + TEN_MINUTES).added());
    assertThrows(IllegalArgumentException.class, () -> new QuotaLedger(new BigDecimal("-0.1")));
  }
}
