package dev.ratelimit.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.limiter.SlidingWindowLimiter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import net.openhft.chronicle.bytes.RandomDataOutput;
import net.openhft.chronicle.hash.Data;
import net.openhft.chronicle.map.ExternalMapQueryContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A process killed between writing an entry's new state and its checksum: Chronicle's recovery drops such an entry,
 * and the undo journal puts back its state from before the interrupted update. The crash is simulated in-process by
 * tearing an entry exactly as a kill would leave it, then reopening without the clean-close marker.
 */
class CrashRecoveryTest {
  private static final long T0 = 1_767_225_600_000L;
  private static final SlidingWindowLimiter PER_HOUR = new SlidingWindowLimiter(Duration.ofHours(1), 60, 2);
  private static final byte[] KEY = "org-acme".getBytes(StandardCharsets.UTF_8);
  private static final byte[] OTHER = "org-other".getBytes(StandardCharsets.UTF_8);

  private static ChronicleMapStore open(Path file) throws Exception {
    return ChronicleMapStore.open(new ChronicleMapStore.Settings(10_000, 32, PER_HOUR.stateSize(), file));
  }

  @Test
  void anUpdateInterruptedBetweenStateAndChecksumKeepsEveryEarlierHit(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("counters.dat");
    try (ChronicleMapStore store = open(file)) {
      admit(store, KEY, 40);
      admit(store, OTHER, 7);
      tear(store, KEY, true);
    }
    simulateKill(file);
    try (ChronicleMapStore store = open(file)) {
      assertEquals(40, current(store, KEY), "the torn entry is back with its state before the interrupted update");
      assertEquals(7, current(store, OTHER));
      assertTrue(store.journal().pending().isEmpty(), "the journal is cleared once recovery resolved it");
      // The window still rejects what it must: 60 more fit in a limit of 100, the 61st does not.
      assertFalse(store.apply(KEY, PER_HOUR, T0 + 2_000, 60, 100).overLimit());
      assertTrue(store.apply(KEY, PER_HOUR, T0 + 2_000, 1, 100).overLimit());
    }
  }

  /** The control: without the journal the same tear loses the key, which is why the journal exists. */
  @Test
  void withoutTheJournalChronicleRecoveryDropsATornEntry(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("counters.dat");
    try (ChronicleMapStore store = open(file)) {
      admit(store, KEY, 40);
      tear(store, KEY, false);
    }
    simulateKill(file);
    try (ChronicleMapStore store = open(file)) {
      assertEquals(0, current(store, KEY), "Chronicle dropped the entry whose checksum did not match");
    }
  }

  @Test
  void aCleanCloseNeedsNoRecoveryAndLeavesNothingArmed(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("counters.dat");
    try (ChronicleMapStore store = open(file)) {
      admit(store, KEY, 12);
    }
    assertTrue(Files.exists(ChronicleMapStore.cleanMarkerOf(file)));
    try (ChronicleMapStore store = open(file)) {
      assertTrue(store.journal().pending().isEmpty());
      assertEquals(12, current(store, KEY));
    }
  }

  private static void admit(ChronicleMapStore store, byte[] key, int hits) {
    for (int i = 0; i < hits; i++) {
      assertFalse(store.apply(key, PER_HOUR, T0 + i, 1, 100).overLimit());
    }
  }

  private static long current(ChronicleMapStore store, byte[] key) {
    return store.apply(key, PER_HOUR, T0 + 1_000, 0, 100).current();
  }

  /**
   * Does what an update killed half-way leaves behind: the journal slot armed (when {@code journaled}), part of the
   * new state written, the checksum not yet.
   */
  private static void tear(ChronicleMapStore store, byte[] key, boolean journaled) {
    try (ExternalMapQueryContext<byte[], byte[], ?> query = store.map().queryContext(key)) {
      query.updateLock().lock();
      Data<byte[]> value = query.entry().value();
      if (journaled) {
        store.journal().arm(key, value.bytes(), value.offset(), (int) value.size());
      }
      RandomDataOutput<?> out = (RandomDataOutput<?>) value.bytes();
      out.writeLong(value.offset() + 8, Long.MAX_VALUE); // the newest-slot index, half of a real update
    }
  }

  /** After a kill there is no clean-close marker, so the next open runs recovery. */
  private static void simulateKill(Path file) throws Exception {
    Files.delete(ChronicleMapStore.cleanMarkerOf(file));
  }
}
