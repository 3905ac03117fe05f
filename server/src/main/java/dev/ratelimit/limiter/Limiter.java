package dev.ratelimit.limiter;

/**
 * A counting algorithm with fixed parameters (window, slots, refill...). Stateless and thread-safe: the per-key state
 * lives in a {@link StateBuffer} owned by the store, which calls {@link #apply} under its per-key lock. The limit is
 * a parameter rather than part of the algorithm so that a reload that only changes a limit keeps the counters.
 * Implementations are value objects: {@code equals} when their parameters are, so a reload can tell which rules
 * changed, and {@code toString} names the parameters for logs and the admin {@code /config} page.
 */
public interface Limiter {
  /** Bytes of per-key state. */
  int stateSize();

  /**
   * Identifies the state layout and time geometry. Keys embed it, so counters carry over a reload only to a rule with
   * the same shape.
   */
  int stateShape();

  /**
   * Decides whether {@code hits} more requests at {@code nowMillis} fit within {@code limit}, and records them in
   * {@code state} when they do. {@code hits == 0} only reads. A rejected request is never recorded.
   */
  Verdict apply(StateBuffer state, long nowMillis, long hits, long limit);
}
