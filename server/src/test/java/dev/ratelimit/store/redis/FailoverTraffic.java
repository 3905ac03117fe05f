package dev.ratelimit.store.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.limiter.FixedWindowLimiter;
import dev.ratelimit.store.StoreException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Steady traffic through a Redis failover, as Envoy would send it: one hit per call on a few counters, alternating
 * between two stores (two server replicas), each call recorded (when, how long, what it answered). Each counter's
 * answers then tell whether a counted hit was lost (its count went down), whether a hit was counted without a verdict
 * (it jumped by more than the one hit), how long every answer took and when each store followed the failover.
 */
final class FailoverTraffic implements AutoCloseable {
  /** A day-long fixed window with a limit never reached: every hit counts, so each count is the one before + 1. */
  static final FixedWindowLimiter DAY = new FixedWindowLimiter(Duration.ofDays(1));
  private static final long NO_LIMIT = 1L << 40;

  /** One call: when it started, how long it took, the count it answered (or -1: failure mode), who answered. */
  record Sample(long startNanos, long tookNanos, int counter, long count, int store, long followedBefore) {
    boolean answered() {
      return count >= 0;
    }
  }

  private final List<RedisStore> stores;
  private final List<byte[]> counters;
  private final List<Sample> samples = new ArrayList<>();
  private final AtomicBoolean stop = new AtomicBoolean();
  private final Thread thread;
  private volatile Throwable error;

  FailoverTraffic(List<RedisStore> stores, List<byte[]> counters) {
    this.stores = stores;
    this.counters = counters;
    this.thread = new Thread(this::run, "failover-traffic");
  }

  FailoverTraffic start() {
    thread.start();
    return this;
  }

  private void run() {
    try {
      for (long i = 0; !stop.get(); i++) {
        int storeIndex = (int) (i % stores.size());
        int counter = (int) ((i / stores.size()) % counters.size());
        RedisStore store = stores.get(storeIndex);
        long followed = store.failoversFollowed();
        long start = System.nanoTime();
        long count;
        try {
          count = store.apply(counters.get(counter), DAY, System.currentTimeMillis(), 1, NO_LIMIT).current();
        } catch (StoreException failureMode) {
          count = -1;
        }
        long took = System.nanoTime() - start;
        synchronized (samples) {
          samples.add(new Sample(start, took, counter, count, storeIndex, followed));
        }
        Thread.sleep(count < 0 ? 5 : 2);
      }
    } catch (Throwable t) {
      error = t;
    }
  }

  /** Waits until {@code n} more calls were answered by Redis (not the failure mode). */
  void awaitAnswers(int n, Duration within) throws InterruptedException {
    long deadline = System.nanoTime() + within.toNanos();
    long target = answered() + n;
    while (answered() < target) {
      assertTrue(System.nanoTime() < deadline, "Redis answered fewer than " + n + " calls within " + within);
      assertEquals(null, error);
      Thread.sleep(10);
    }
  }

  /** Waits until every store followed a failover and then answered {@code n} calls each. */
  long awaitFollowed(int n, Duration within) throws InterruptedException {
    long deadline = System.nanoTime() + within.toNanos();
    while (true) {
      boolean all = true;
      for (int s = 0; s < stores.size(); s++) {
        int store = s;
        long after = snapshot().stream().filter(x -> x.store() == store && x.followedBefore() > 0 && x.answered())
            .count();
        all &= after >= n;
      }
      if (all) {
        return System.nanoTime();
      }
      assertTrue(System.nanoTime() < deadline, "not every store followed the failover within " + within + ": "
          + describe());
      Thread.sleep(10);
    }
  }

  private long answered() {
    return snapshot().stream().filter(Sample::answered).count();
  }

  List<Sample> snapshot() {
    synchronized (samples) {
      return List.copyOf(samples);
    }
  }

  /** When the first call that a store made after following the failover was answered (nanoTime), per store. */
  long followedAt() {
    long latest = 0;
    for (int s = 0; s < stores.size(); s++) {
      int store = s;
      long first = snapshot().stream().filter(x -> x.store() == store && x.followedBefore() > 0 && x.answered())
          .mapToLong(x -> x.startNanos() + x.tookNanos()).min().orElse(Long.MAX_VALUE);
      latest = Math.max(latest, first);
    }
    return latest;
  }

  /** The longest any call took, in ms. */
  long maxMillis() {
    return snapshot().stream().mapToLong(Sample::tookNanos).max().orElse(0) / 1_000_000;
  }

  /**
   * What one counter's answers show, against the {@code window} during which two masters may both have answered
   * (from shortly before the promotion until both stores followed).
   *
   * @param answered calls answered by Redis (each counted one hit)
   * @param failed calls answered by the failure mode
   * @param finalCount the counter's value on the (new) master at the end
   * @param backwards times a count was lower than the one before, both outside the window
   * @param extra hits counted without a verdict, seen outside the window (a count higher than the one before + 1)
   */
  record Counts(int answered, int failed, long finalCount, int backwards, long extra) {
    /** Counted hits missing from the final count (less any hit counted without a verdict). */
    long lost() {
      return answered - finalCount;
    }
  }

  /** Reads one counter's answers in call order: outside the window each count must be the one before + 1. */
  Counts counts(int counter, long windowFrom, long windowTo) {
    int answered = 0;
    int failed = 0;
    int backwards = 0;
    long extra = 0;
    Sample previous = null;
    for (Sample sample : snapshot()) {
      if (sample.counter() != counter) {
        continue;
      }
      if (!sample.answered()) {
        failed++;
        continue;
      }
      answered++;
      if (previous != null && sameSide(previous, sample, windowFrom, windowTo)) {
        long step = sample.count() - previous.count();
        if (step < 1) {
          backwards++;
        } else {
          extra += step - 1;
        }
      }
      previous = sample;
    }
    long finalCount = stores.get(0).apply(counters.get(counter), DAY, System.currentTimeMillis(), 0, NO_LIMIT)
        .current();
    return new Counts(answered, failed, finalCount, backwards, extra);
  }

  /** Both calls started before the window, or both after it. */
  private static boolean sameSide(Sample a, Sample b, long from, long to) {
    return (a.startNanos() < from && b.startNanos() < from) || (a.startNanos() > to && b.startNanos() > to);
  }

  /** Calls of a counter answered by Redis that started within [from, to] (nanoTime). */
  long answeredBetween(int counter, long from, long to) {
    return snapshot().stream().filter(x -> x.counter() == counter && x.answered()
        && x.startNanos() >= from && x.startNanos() <= to).count();
  }

  String describe() {
    List<Sample> all = snapshot();
    long answered = all.stream().filter(Sample::answered).count();
    return all.size() + " calls, " + answered + " answered by Redis, longest " + maxMillis() + " ms";
  }

  @Override
  public void close() throws InterruptedException {
    stop.set(true);
    thread.join(TimeUnit.SECONDS.toMillis(10));
    assertEquals(null, error, "the traffic thread failed");
  }
}
