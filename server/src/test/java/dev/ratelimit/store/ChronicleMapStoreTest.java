package dev.ratelimit.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.limiter.Verdict;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embedded off-heap store against real Chronicle Map instances: the shared contract plus its own features. */
class ChronicleMapStoreTest extends CounterStoreContract {

  private static ChronicleMapStore open(Path file, long entries) throws Exception {
    return ChronicleMapStore.open(new ChronicleMapStore.Settings(entries, 32, PER_MINUTE.stateSizeFor(4), file));
  }

  @Override
  protected CounterStore openEmptyStore() throws Exception {
    return open(null, 10_000);
  }

  @Override
  protected void assertStateExpiresAt(byte[] key, long nowMillis, long expiresAtMillis) {
    assertEquals(0, ((ChronicleMapStore) store).sweepExpired(expiresAtMillis - 1), "still held just before its expiry");
    assertEquals(1, store.size());
    assertEquals(1, ((ChronicleMapStore) store).sweepExpired(expiresAtMillis), "the sweeper removes it at its expiry");
    assertEquals(0, store.size());
  }

  @Test
  void countersSurviveClosingAndReopeningTheDataFile(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("counters.dat");
    try (ChronicleMapStore store = open(file, 10_000)) {
      for (int i = 0; i < 42; i++) {
        assertFalse(store.apply(KEY, PER_MINUTE, T0 + i, 1, 100).overLimit());
      }
    }
    Path marker = ChronicleMapStore.cleanMarkerOf(file);
    assertTrue(Files.exists(marker), "a clean close marks the file clean");
    try (ChronicleMapStore reopened = open(file, 10_000)) {
      assertFalse(Files.exists(marker), "while open the file is not known to be clean");
      Verdict peek = reopened.apply(KEY, PER_MINUTE, T0 + 1_000, 0, 100);
      assertEquals(42, peek.current());
      assertEquals(1, reopened.size());
    }
  }

  @Test
  void theSweeperRemovesOnlyKeysWhoseWindowHasAgedOut() throws Exception {
    try (ChronicleMapStore store = open(null, 1_000)) {
      store.apply("old".getBytes(StandardCharsets.UTF_8), PER_MINUTE, T0, 1, 10);
      store.apply("new".getBytes(StandardCharsets.UTF_8), PER_MINUTE, T0 + 30_000, 1, 10);
      assertEquals(0, ((ChronicleMapStore) store).sweepExpired(T0 + 60_999));
      assertEquals(1, ((ChronicleMapStore) store).sweepExpired(T0 + 61_000));
      assertEquals(1, store.size());
      assertEquals(1, store.apply("new".getBytes(StandardCharsets.UTF_8), PER_MINUTE, T0 + 61_000, 0, 10).current());
    }
  }

  @Test
  void aFullMapRefusesNewKeysButKeepsServingExistingOnes() throws Exception {
    try (ChronicleMapStore store = open(null, 100)) {
      int stored = 0;
      StoreException full = null;
      for (int i = 0; i < 100_000 && full == null; i++) {
        try {
          store.apply(("key-" + i).getBytes(StandardCharsets.UTF_8), PER_MINUTE, T0, 1, 10);
          stored++;
        } catch (StoreException e) {
          full = e;
        }
      }
      assertTrue(full != null, "a map sized for 100 keys must refuse some of 100,000");
      assertEquals(StoreException.Kind.FULL, full.kind());
      assertTrue(stored >= 100, "at least the configured entries fit, stored " + stored);
      assertEquals(2, store.apply("key-0".getBytes(StandardCharsets.UTF_8), PER_MINUTE, T0 + 1, 1, 10).current());
    }
  }
}
