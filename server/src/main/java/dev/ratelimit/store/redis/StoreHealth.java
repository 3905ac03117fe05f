package dev.ratelimit.store.redis;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the Redis store can decide now, from the outcomes of its calls and of its background probes: it cannot
 * once the last {@code failuresInARow} outcomes all failed and none succeeded for {@code withoutSuccess}, and it can
 * again at the first success. Each change is logged once and reported to the listeners (readiness, gRPC health).
 */
final class StoreHealth {
  private static final Logger log = LoggerFactory.getLogger(RedisStore.class);

  private final int failuresInARow;
  private final long withoutSuccessNanos;
  private final LongSupplier nanoClock;
  private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
  private final AtomicInteger failures = new AtomicInteger();
  private volatile long lastSuccess;
  private volatile String lastFailure = "";
  private volatile boolean canDecide = true;
  private long downSince;

  StoreHealth(int failuresInARow, Duration withoutSuccess, LongSupplier nanoClock) {
    if (failuresInARow < 1) {
      throw new IllegalArgumentException("failuresInARow must be at least 1, not " + failuresInARow);
    }
    this.failuresInARow = failuresInARow;
    this.withoutSuccessNanos = withoutSuccess.toNanos();
    this.nanoClock = nanoClock;
    this.lastSuccess = nanoClock.getAsLong();
  }

  /** Redis decided (a call or a probe succeeded). Lock-free unless it changes the state. */
  void succeeded() {
    lastSuccess = nanoClock.getAsLong();
    if (failures.get() != 0) {
      failures.set(0);
    }
    if (canDecide) {
      return;
    }
    synchronized (this) {
      if (canDecide) {
        return;
      }
      canDecide = true;
      log.info("Redis decides again, after {} ms without being able to", (lastSuccess - downSince) / 1_000_000);
    }
    notifyListeners();
  }

  /** Redis could not decide (timeout, disconnection, error); {@code why} names the cause for the log. */
  void failed(String why) {
    lastFailure = why;
    failures.incrementAndGet();
    evaluate();
  }

  /** Re-checks the time condition (the probe calls it even when nothing happens). */
  void evaluate() {
    if (!canDecide || failures.get() < failuresInARow) {
      return;
    }
    synchronized (this) {
      long now = nanoClock.getAsLong();
      long since = lastSuccess;
      int run = failures.get();
      if (!canDecide || run < failuresInARow || now - since < withoutSuccessNanos) {
        return;
      }
      canDecide = false;
      downSince = now;
      log.warn("Redis cannot decide: the last {} calls failed and none succeeded for {} ms (last: {}); "
          + "not ready until it can", run, (now - since) / 1_000_000, lastFailure);
    }
    notifyListeners();
  }

  boolean canDecide() {
    return canDecide;
  }

  /** Runs {@code listener} after each change (on the thread that noticed it). */
  void onChange(Runnable listener) {
    listeners.add(listener);
  }

  private void notifyListeners() {
    for (Runnable listener : listeners) {
      try {
        listener.run();
      } catch (RuntimeException e) {
        log.warn("a readiness listener failed", e);
      }
    }
  }
}
