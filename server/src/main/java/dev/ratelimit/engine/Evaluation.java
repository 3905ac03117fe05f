package dev.ratelimit.engine;

import dev.ratelimit.policy.RateLimitRule;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.store.StoreException;

/**
 * One descriptor on its way through the engine: its rule, counter key, hits and limit once resolved, then its
 * verdict or store failure once decided; or the error that kept it from being resolved.
 */
final class Evaluation {
  final RateLimitRule rule;
  final byte[] key;
  final long hits;
  final long limit;
  /** Why the descriptor could not be evaluated (then nothing else is set). */
  RuntimeException error;
  Verdict verdict;
  StoreException failure;

  Evaluation(RateLimitRule rule, byte[] key, long hits, long limit) {
    this.rule = rule;
    this.key = key;
    this.hits = hits;
    this.limit = limit;
  }

  static Evaluation failed(RuntimeException error) {
    Evaluation e = new Evaluation(null, null, 0, 0);
    e.error = error;
    return e;
  }

  /** Whether the store decides this descriptor: resolved, and limited. */
  boolean counted() {
    return error == null && !rule.unlimited();
  }
}
