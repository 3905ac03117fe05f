package dev.ratelimit.store;

/**
 * An open counter store together with what runs beside it, built by {@link StoreSettings#open}: the server starts,
 * probes and closes it without knowing which store it is.
 */
public interface StoreBackend extends AutoCloseable {

  /** The store decisions go to. */
  CounterStore store();

  /**
   * True when a decision never waits on I/O (microseconds in memory), so calls may run on the transport's event loop
   * instead of paying a thread hand-off; false when a decision waits on the network.
   */
  boolean decidesWithoutWaiting();

  /** Starts the store's background work (the embedded store's sweeper); idempotent. */
  void start();

  /** Whether the store can decide now (readiness). */
  boolean ready();

  /** Runs {@code listener} whenever {@link #ready} may have changed (a store that cannot tell never calls it). */
  void onReadinessChange(Runnable listener);

  /** Removes idle keys now, as the background work does on its schedule; returns how many (0 where the store expires keys itself). */
  int sweepNow();

  /** Stops the background work, then closes the store. */
  @Override
  void close();
}
