package dev.ratelimit.store.redis;

import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.StoreBackend;
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
  public static RedisBackend open(RedisStore.Settings settings, MeterRegistry registry) throws IOException {
    RedisStore store = RedisStore.open(settings);
    store.bindMeters(registry);
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
}
