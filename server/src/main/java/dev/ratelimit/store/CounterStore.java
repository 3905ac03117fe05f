package dev.ratelimit.store;

import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.Verdict;
import java.util.List;
import java.util.Objects;

/**
 * Holds per-key limiter state and applies a limiter's decision to one key atomically (docs/architecture.md). Implementations:
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
   * Takes back {@code hits} that {@link #apply} admitted under {@code key} at {@code nowMillis} (see
   * {@link Limiter#refund}).
   *
   * @throws StoreException when the store cannot reach the state
   */
  void refund(byte[] key, Limiter limiter, long nowMillis, long hits, long limit);

  /**
   * Decides the descriptors of one request at one instant, in order, each atomically for its key (a remote store
   * sends them together). One operation failing does not fail the others: each result carries either a verdict or the
   * failure. With {@link Batch#countNowhere()}, a request that is rejected ({@link Batch#rejects}) keeps no hit in any
   * counter: the hits admitted by its other operations are taken back before this returns (atomically with the
   * decisions where the store can). Concurrent requests may see those hits until then and be rejected for them; none
   * can be admitted beyond a limit.
   */
  default Result[] applyAll(List<Op> ops, long nowMillis, Batch batch) {
    return refundIfRejected(ops, nowMillis, batch, applyEach(ops, nowMillis));
  }

  /** Decides each op independently, as {@link #apply} would one after the other (envoyproxy/ratelimit's behaviour). */
  default Result[] applyAll(List<Op> ops, long nowMillis) {
    return applyAll(ops, nowMillis, Batch.INDEPENDENT);
  }

  private Result[] applyEach(List<Op> ops, long nowMillis) {
    Result[] results = new Result[ops.size()];
    for (int i = 0; i < results.length; i++) {
      Op op = ops.get(i);
      try {
        results[i] = Result.of(apply(op.key(), op.limiter(), nowMillis, op.hits(), op.limit()));
      } catch (StoreException e) {
        results[i] = Result.of(e);
      }
    }
    return results;
  }

  /**
   * Takes back the recorded hits of a request that {@code batch} rejects: one refund per recorded op. Stores that
   * decide a batch atomically call it only for what they could not take back inside that batch.
   */
  default Result[] refundIfRejected(List<Op> ops, long nowMillis, Batch batch, Result[] results) {
    if (batch.countNowhere() && batch.rejects(ops, results)) {
      for (int i = 0; i < results.length; i++) {
        if (Batch.recorded(ops.get(i), results[i])) {
          Op op = ops.get(i);
          try {
            refund(op.key(), op.limiter(), nowMillis, op.hits(), op.limit());
          } catch (StoreException e) {
            // The store failed between the decision and the refund: the hit stays counted (over-counts, never under).
          }
        }
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

  /** Number of keys held (for a shared Redis: all keys of its database). */
  long size();

  @Override
  void close();

  /**
   * One decision of a batch: the counter's key, its limiter, the hits to add, the limit in force, and whether its
   * rejection rejects the request (false for a shadow-mode rule, which only reports).
   */
  record Op(byte[] key, Limiter limiter, long hits, long limit, boolean enforcing) {
    public Op {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(limiter, "limiter");
    }

    /** An enforcing decision. */
    public Op(byte[] key, Limiter limiter, long hits, long limit) {
      this(key, limiter, hits, limit, true);
    }
  }

  /** The outcome of one {@link Op}: exactly one of {@code verdict} and {@code failure} is set. */
  record Result(Verdict verdict, StoreException failure) {
    public Result {
      if ((verdict == null) == (failure == null)) {
        throw new IllegalArgumentException("a result has either a verdict or a failure");
      }
    }

    public static Result of(Verdict verdict) {
      return new Result(verdict, null);
    }

    public static Result of(StoreException failure) {
      return new Result(null, failure);
    }
  }

  /**
   * How one request's decisions relate: the one place that says when a request is rejected, used by the stores (to
   * take hits back) and by the engine (for the overall code).
   *
   * @param countNowhere a rejected request keeps no hit in any counter (the default); false is envoyproxy/ratelimit's
   *     behaviour, where the descriptors within their limits count the request even when another rejects it
   * @param failuresReject a descriptor the store could not decide rejects the request ({@code --failure-mode deny})
   */
  record Batch(boolean countNowhere, boolean failuresReject) {
    /** Every op decided on its own: admitted hits stay whatever the others decided. */
    public static final Batch INDEPENDENT = new Batch(false, false);

    /** Whether the decision of {@code op} rejects the request. */
    public boolean rejects(Op op, Result result) {
      return result.failure() != null ? failuresReject : op.enforcing() && result.verdict().overLimit();
    }

    /** Whether any decision rejects the request. */
    public boolean rejects(List<Op> ops, Result[] results) {
      for (int i = 0; i < results.length; i++) {
        if (results[i] != null && rejects(ops.get(i), results[i])) {
          return true;
        }
      }
      return false;
    }

    /** Whether {@code op}'s hits were admitted and recorded, so that a rejected request must take them back. */
    public static boolean recorded(Op op, Result result) {
      return result != null && result.verdict() != null && !result.verdict().overLimit() && op.hits() > 0;
    }
  }
}
