package dev.ratelimit.store;

import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The embedded store with its sweeper (and the sweeper's gauges), run on one daemon thread. */
final class EmbeddedBackend implements StoreBackend {
  private static final Logger log = LoggerFactory.getLogger(EmbeddedBackend.class);

  private final ChronicleMapStore store;
  private final Sweeper sweeper;
  private final Duration sweepInterval;
  private ScheduledExecutorService background;
  private boolean closed;

  EmbeddedBackend(ChronicleMapStore store, long capacity, Duration sweepInterval, Clock clock,
      MeterRegistry registry) {
    this.store = store;
    this.sweepInterval = sweepInterval;
    this.sweeper = new Sweeper(store, capacity, clock, registry);
  }

  @Override
  public CounterStore store() {
    return store;
  }

  @Override
  public boolean decidesWithoutWaiting() {
    return true;
  }

  @Override
  public synchronized void start() {
    if (background != null || closed) {
      return;
    }
    background = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "ratelimit-sweeper");
      t.setDaemon(true);
      return t;
    });
    long millis = sweepInterval.toMillis();
    background.scheduleWithFixedDelay(sweeper::sweep, millis, millis, TimeUnit.MILLISECONDS);
  }

  @Override
  public boolean ready() {
    return store.isOpen();
  }

  @Override
  public void onReadinessChange(Runnable listener) {
    // The map is open from start to close: readiness changes only with the server's own draining.
  }

  @Override
  public int sweepNow() {
    return sweeper.sweep();
  }

  /** Lets a running sweep finish (up to 10 s), then closes the map so a persisted file is marked clean. */
  @Override
  public synchronized void close() {
    closed = true;
    if (background != null) {
      background.shutdown();
      try {
        if (!background.awaitTermination(10, TimeUnit.SECONDS)) {
          log.warn("a sweep is still running; closing the store under it");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    store.close();
  }
}
