package dev.ratelimit.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.limiter.Verdict;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embedded off-heap store against real Chronicle Map instances. */
class ChronicleMapStoreTest {
  private static final long T0 = 1_767_225_600_000L;
  private static final SlidingWindowLimiter PER_MINUTE = new SlidingWindowLimiter(Duration.ofMinutes(1), 60);
  private static final byte[] KEY = "org-acme".getBytes(StandardCharsets.UTF_8);

  private static ChronicleMapStore open(Path file, long entries) throws Exception {
    return ChronicleMapStore.open(new ChronicleMapStore.Settings(entries, 32, PER_MINUTE.stateSize(), file));
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
  void eightThreadsNeverAdmitMoreThanTheLimitWithinAnyWindow() throws Exception {
    // 8 threads hit one key concurrently at the same instant; between rounds a barrier moves the clock 3.7 s on.
    long limit = 200;
    int rounds = 60;
    AtomicLong clock = new AtomicLong(T0);
    long[] admittedPerRound = new long[rounds];
    AtomicLong admittedThisRound = new AtomicLong();
    int[] round = {0};
    CyclicBarrier barrier = new CyclicBarrier(8, () -> {
      admittedPerRound[round[0]++] = admittedThisRound.getAndSet(0);
      clock.addAndGet(3_700);
    });
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try (ChronicleMapStore store = open(null, 1_000)) {
      List<Future<?>> tasks = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        tasks.add(pool.submit(() -> {
          for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < 50; i++) {
              if (!store.apply(KEY, PER_MINUTE, clock.get(), 1, limit).overLimit()) {
                admittedThisRound.incrementAndGet();
              }
            }
            barrier.await(30, TimeUnit.SECONDS);
          }
          return null;
        }));
      }
      for (Future<?> task : tasks) {
        task.get(60, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    long total = 0;
    for (int end = 0; end < rounds; end++) {
      long inWindow = 0;
      for (int r = end; r >= 0 && (end - r) * 3_700L < 60_000; r--) {
        inWindow += admittedPerRound[r];
      }
      assertTrue(inWindow <= limit, "60 s ending at round " + end + " admitted " + inWindow);
      total += admittedPerRound[end];
    }
    assertEquals(limit, admittedPerRound[0], "the first round fills the limit exactly");
    assertTrue(total >= 3 * limit, "windows keep freeing: admitted " + total + " in " + rounds * 3.7 + " s");
  }

  @Test
  void aRejectedOrReadOnlyRequestForANewKeyStoresNothing() throws Exception {
    try (ChronicleMapStore store = open(null, 1_000)) {
      assertTrue(store.apply(KEY, PER_MINUTE, T0, 5, 1).overLimit());
      store.apply(KEY, PER_MINUTE, T0, 0, 1);
      assertEquals(0, store.size());
    }
  }

  @Test
  void theSweeperRemovesOnlyKeysWhoseWindowHasAgedOut() throws Exception {
    try (ChronicleMapStore store = open(null, 1_000)) {
      store.apply("old".getBytes(StandardCharsets.UTF_8), PER_MINUTE, T0, 1, 10);
      store.apply("new".getBytes(StandardCharsets.UTF_8), PER_MINUTE, T0 + 30_000, 1, 10);
      assertEquals(0, store.sweepExpired(T0 + 60_999));
      assertEquals(1, store.sweepExpired(T0 + 61_000));
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
