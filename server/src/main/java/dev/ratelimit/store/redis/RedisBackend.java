package dev.ratelimit.store.redis;

import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.StoreBackend;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;

/**
 * The Redis store as the server runs it: its meters registered, readiness from its health checks, nothing to sweep
 * (each key expires in Redis by itself), and decisions that wait on the network, so never on an event loop.
 */
public final class RedisBackend implements StoreBackend {
  private final RedisStore store;

  private RedisBackend(RedisStore store) {
    this.store = store;
  }

  /** Connects (retrying up to the start-up timeout) and registers the store's meters. */
  public static RedisBackend open(RedisSettings settings, MeterRegistry registry) throws IOException {
    RedisStore store = RedisStore.open(settings);
    bindMeters(store, registry);
    return new RedisBackend(store);
  }

  @Override
  public CounterStore store() {
    return store;
  }

  @Override
  public boolean decidesWithoutWaiting() {
    return false;
  }

  @Override
  public void start() {
    // The store's health probe runs from open to close.
  }

  @Override
  public boolean ready() {
    return store.isOpen();
  }

  @Override
  public void onReadinessChange(Runnable listener) {
    store.onReadinessChange(listener);
  }

  @Override
  public int sweepNow() {
    return 0;
  }

  @Override
  public void close() {
    store.close();
  }

  /**
   * Registers the store's meters: {@code ratelimit_redis_decisions{answered_by=redis|cache|failure_mode}},
   * {@code ratelimit_redis_healthy} (1 while Redis can decide), {@code ratelimit_redis_failovers_followed}, and the
   * over-limit cache's {@code ratelimit_redis_local_rejections} and {@code ratelimit_redis_overlimit_cache_keys}.
   */
  private static void bindMeters(RedisStore store, MeterRegistry registry) {
    String decisions = "Descriptors decided, by what answered: Redis, the local over-limit cache, or the failure mode";
    FunctionCounter.builder("ratelimit_redis_decisions", store, RedisStore::decidedByRedis)
        .description(decisions).tag("answered_by", "redis").register(registry);
    FunctionCounter.builder("ratelimit_redis_decisions", store, RedisStore::localRejections)
        .description(decisions).tag("answered_by", "cache").register(registry);
    FunctionCounter.builder("ratelimit_redis_decisions", store, RedisStore::answeredByFailureMode)
        .description(decisions).tag("answered_by", "failure_mode").register(registry);
    Gauge.builder("ratelimit_redis_healthy", store, s -> s.isOpen() ? 1 : 0)
        .description("1 while Redis can decide, 0 while it cannot (readiness follows it)").register(registry);
    FunctionCounter.builder("ratelimit_redis_failovers_followed", store, RedisStore::failoversFollowed)
        .description("Redis failovers followed (a new master for Sentinel, new masters in the cluster topology)")
        .register(registry);
    FunctionCounter.builder("ratelimit_redis_local_rejections", store, RedisStore::localRejections)
        .description("Requests rejected from the local over-limit cache without asking Redis")
        .register(registry);
    Gauge.builder("ratelimit_redis_overlimit_cache_keys", store, RedisStore::overLimitCacheSize)
        .description("Keys held in the local over-limit cache")
        .register(registry);
  }
}
