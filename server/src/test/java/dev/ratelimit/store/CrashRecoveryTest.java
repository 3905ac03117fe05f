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
 * A process killed in the middle of an update: the entry keeps every hit acknowledged before it. The crash is simulated
 * in-process by leaving an entry half-updated exactly as a kill would (its new expiry written, its count not yet), then
 * reopening without the clean-close marker so that Chronicle's recovery runs. The separate-process version with a real
 * SIGKILL is {@code KillNineTest}.
 */
class CrashRecoveryTest {
  private static final long T0 = 1_767_225_600_000L;
  private static final SlidingWindowLimiter PER_HOUR = new SlidingWindowLimiter(Duration.ofHours(1), 60);
  private static final byte[] KEY = "org-acme".getBytes(StandardCharsets.UTF_8);
  private static final byte[] OTHER = "org-other".getBytes(StandardCharsets.UTF_8);

  private static ChronicleMapStore open(Path file) throws Exception {
    return ChronicleMapStore.open(new ChronicleMapStore.Settings(10_000, 32, PER_HOUR.stateSizeFor(2), file));
  }

  @Test
  void anUpdateInterruptedByAKillKeepsEveryEarlierHit(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("counters.dat");
    try (ChronicleMapStore store = open(file)) {
      admit(store, KEY, 40);
      admit(store, OTHER, 7);
      halfUpdate(store, KEY);
    }
    simulateKill(file);
    try (ChronicleMapStore store = open(file)) {
      assertEquals(40, current(store, KEY), "recovery keeps the half-updated entry with all its hits");
      assertEquals(7, current(store, OTHER));
      // The window still rejects what it must: 60 more fit in a limit of 100, the 61st does not.
      assertFalse(store.apply(KEY, PER_HOUR, T0 + 2_000, 60, 100).overLimit());
      assertTrue(store.apply(KEY, PER_HOUR, T0 + 2_000, 1, 100).overLimit());
    }
  }

  @Test
  void aCleanCloseNeedsNoRecovery(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("counters.dat");
    try (ChronicleMapStore store = open(file)) {
      admit(store, KEY, 12);
    }
    assertTrue(Files.exists(ChronicleMapStore.cleanMarkerOf(file)));
    try (ChronicleMapStore store = open(file)) {
      assertFalse(Files.exists(ChronicleMapStore.cleanMarkerOf(file)), "the marker is consumed while the map is open");
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

  /** What an admission killed half-way leaves behind: the new expiry written, the count not yet incremented. */
  private static void halfUpdate(ChronicleMapStore store, byte[] key) {
    try (ExternalMapQueryContext<byte[], byte[], ?> query = store.map().queryContext(key)) {
      query.updateLock().lock();
      Data<byte[]> value = query.entry().value();
      RandomDataOutput<?> out = (RandomDataOutput<?>) value.bytes();
      out.writeLong(value.offset(), T0 + 3 * 3_600_000L);
    }
  }

  /** After a kill there is no clean-close marker, so the next open runs recovery. */
  private static void simulateKill(Path file) throws Exception {
    Files.delete(ChronicleMapStore.cleanMarkerOf(file));
  }
}
