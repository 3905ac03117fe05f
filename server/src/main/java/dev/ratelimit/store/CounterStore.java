package dev.ratelimit.store;

import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.Verdict;

/**
 * Holds per-key limiter state and applies a limiter's decision to one key atomically (DESIGN §6). Implementations:
 * {@link ChronicleMapStore} (embedded, off-heap).
 */
public interface CounterStore extends AutoCloseable {

  /**
   * Applies {@code limiter} to the state under {@code key} atomically and returns its verdict.
   *
   * @throws StoreException when the store cannot decide (full, closed, unreachable)
   */
  Verdict apply(byte[] key, Limiter limiter, long nowMillis, long hits, long limit);

  /**
   * Applies {@code update} to the state under {@code key} atomically and returns its result. A key whose state
   * has expiry 0 afterwards is removed (or never inserted).
   *
   * @throws StoreException when the store cannot decide (full, closed, unreachable)
   */
  <R> R update(byte[] key, StateUpdate<R> update, long nowMillis);

  /** Removes keys whose state expired before {@code nowMillis}; returns how many were removed. */
  int sweepExpired(long nowMillis);

  /** Number of keys held. */
  long size();

  /** Bytes of off-heap memory the store uses (0 when it holds none). */
  long offHeapBytes();

  @Override
  void close();
}
