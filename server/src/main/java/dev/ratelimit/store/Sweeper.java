package dev.ratelimit.store;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Clock;
import java.util.Objects;
import java.util.function.ToDoubleFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the embedded store bounded: each {@link #sweep()} removes the keys whose window has fully aged out at the injected
 * clock's time, so the map holds only active keys and a full map frees room again. Also publishes the store's size
 * as gauges ({@code ratelimit_store_entries}, {@code ratelimit_store_capacity_entries},
 * {@code ratelimit_store_offheap_bytes}) and the sweeps as {@code ratelimit_store_swept_keys} and
 * {@code ratelimit_store_sweep}. Scheduling is the caller's; sweeps are serialized.
 */
public final class Sweeper {
  private static final Logger log = LoggerFactory.getLogger(Sweeper.class);

  private final ChronicleMapStore store;
  private final Clock clock;
  private final Counter swept;
  private final Timer sweeps;

  /** @param capacity the entries the store is sized for, published for alerting on how full it is */
  public Sweeper(ChronicleMapStore store, long capacity, Clock clock, MeterRegistry registry) {
    this.store = Objects.requireNonNull(store, "store");
    this.clock = Objects.requireNonNull(clock, "clock");
    gauge(registry, "ratelimit_store_entries", "Keys (counters) held in the store", ChronicleMapStore::size);
    gauge(registry, "ratelimit_store_offheap_bytes", "Off-heap memory used by the store",
        ChronicleMapStore::offHeapBytes);
    Gauge.builder("ratelimit_store_capacity_entries", () -> capacity)
        .description("Keys the store is sized for (--max-entries); new keys beyond it get the failure mode")
        .register(registry);
    this.swept = Counter.builder("ratelimit_store_swept_keys")
        .description("Idle keys removed by the sweeper")
        .register(registry);
    this.sweeps = Timer.builder("ratelimit_store_sweep")
        .description("Time of one sweep over the store")
        .register(registry);
  }

  private void gauge(MeterRegistry registry, String name, String description, ToDoubleFunction<ChronicleMapStore> read) {
    Gauge.builder(name, store, s -> {
      try {
        return read.applyAsDouble(s);
      } catch (RuntimeException closed) {
        return Double.NaN; // the store is closed during shutdown
      }
    }).description(description).register(registry);
  }

  /** Removes the keys expired at the clock's time now; returns how many. Never throws. */
  public synchronized int sweep() {
    long start = System.nanoTime();
    try {
      int removed = store.sweepExpired(clock.millis());
      swept.increment(removed);
      log.debug("sweeper removed {} idle keys; {} remain", removed, store.size());
      return removed;
    } catch (RuntimeException e) {
      log.warn("sweeper failed: {}", e.toString());
      return 0;
    } finally {
      sweeps.record(System.nanoTime() - start, java.util.concurrent.TimeUnit.NANOSECONDS);
    }
  }
}
