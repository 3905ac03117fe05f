package dev.ratelimit.store;

import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.Verdict;
import java.util.List;
import java.util.Objects;

/**
 * Holds per-key limiter state and applies a limiter's decision to one key atomically (DESIGN §6). Implementations:
 * {@link ChronicleMapStore} (embedded, off-heap) and {@code dev.ratelimit.store.redis.RedisStore} (shared by replicas).
 */
public interface CounterStore extends AutoCloseable {

  /**
   * Applies {@code limiter} to the state under {@code key} atomically and returns its verdict.
   *
   * @throws StoreException when the store cannot decide (full, closed, unreachable)
   */
  Verdict apply(byte[] key, Limiter limiter, long nowMillis, long hits, long limit);

  /**
   * Applies several independent decisions at one instant, in order, as if by {@link #apply} one after the other (a
   * remote store sends them together). One operation failing does not fail the others: each result carries either a
   * verdict or the failure.
   */
  default Result[] applyAll(List<Op> ops, long nowMillis) {
    Result[] results = new Result[ops.size()];
    for (int i = 0; i < results.length; i++) {
      Op op = ops.get(i);
      try {
        results[i] = new Result(apply(op.key(), op.limiter(), nowMillis, op.hits(), op.limit()), null);
      } catch (StoreException e) {
        results[i] = new Result(null, e);
      }
    }
    return results;
  }

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

  /**
   * True while the store can decide (for readiness). A store that cannot tell answers true and reports failures
   * through {@link StoreException} instead.
   */
  default boolean isOpen() {
    return true;
  }

  /** Runs {@code listener} whenever {@link #isOpen} may have changed (a store that cannot tell never calls it). */
  default void onReadinessChange(Runnable listener) {
  }

  @Override
  void close();

  /** One decision of a batch: the counter's key, its limiter, the hits to add and the limit in force. */
  record Op(byte[] key, Limiter limiter, long hits, long limit) {
    public Op {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(limiter, "limiter");
    }
  }

  /** The outcome of one {@link Op}: exactly one of {@code verdict} and {@code failure} is set. */
  record Result(Verdict verdict, StoreException failure) {
    public Result {
      if ((verdict == null) == (failure == null)) {
        throw new IllegalArgumentException("a result has either a verdict or a failure");
      }
    }
  }
}
