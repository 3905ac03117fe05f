package dev.ratelimit.store;

import dev.ratelimit.store.redis.RedisBackend;
import dev.ratelimit.store.redis.RedisSettings;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.Objects;

/**
 * Which counter store the server runs on, with that store's settings: the one place the backend is chosen.
 * {@link #open} builds the store together with what only it knows how to run (its meters, its maintenance, its
 * readiness), so nothing else in the server asks which store it has.
 */
public sealed interface StoreSettings permits StoreSettings.Embedded, StoreSettings.Redis {

  /** Opens the store and registers its meters; its background work starts with {@link StoreBackend#start}. */
  StoreBackend open(Clock clock, MeterRegistry registry) throws IOException;

  /** The embedded store with {@code map}'s sizing and location, swept every minute. */
  static StoreSettings embedded(ChronicleMapStore.Settings map) {
    return new Embedded(map, Embedded.DEFAULT_SWEEP_INTERVAL);
  }

  /** Counters shared in the Redis {@code redis} describes. */
  static StoreSettings redis(RedisSettings redis) {
    return new Redis(redis);
  }

  /** One line for the start log. */
  String describe();

  /** The embedded store: off-heap Chronicle Map, per replica, idle keys removed every {@code sweepInterval}. */
  record Embedded(ChronicleMapStore.Settings map, Duration sweepInterval) implements StoreSettings {
    /** How often idle keys are removed unless {@code --sweep-interval} says otherwise. */
    public static final Duration DEFAULT_SWEEP_INTERVAL = Duration.ofSeconds(60);

    public Embedded {
      Objects.requireNonNull(map, "map");
      Objects.requireNonNull(sweepInterval, "sweepInterval");
      if (sweepInterval.toMillis() < 1) {
        throw new IllegalArgumentException("the sweep interval must be at least 1 ms, not " + sweepInterval);
      }
    }

    /** One million keys in memory, swept every minute. */
    public static Embedded defaults() {
      return new Embedded(ChronicleMapStore.Settings.defaults(), DEFAULT_SWEEP_INTERVAL);
    }

    @Override
    public StoreBackend open(Clock clock, MeterRegistry registry) throws IOException {
      return new EmbeddedBackend(ChronicleMapStore.open(map), map.maxEntries(), sweepInterval, clock, registry);
    }

    @Override
    public String describe() {
      return (map.dataFile() == null ? "in memory" : map.dataFile()) + " (max entries " + map.maxEntries()
          + ", swept every " + sweepInterval + ")";
    }
  }

  /** Counters shared by replicas in Redis (standalone, Sentinel or Cluster); Redis expires idle keys itself. */
  record Redis(RedisSettings redis) implements StoreSettings {
    public Redis {
      Objects.requireNonNull(redis, "redis");
    }

    @Override
    public StoreBackend open(Clock clock, MeterRegistry registry) throws IOException {
      return RedisBackend.open(redis, registry);
    }

    @Override
    public String describe() {
      return "Redis at " + redis.uri();
    }
  }
}
