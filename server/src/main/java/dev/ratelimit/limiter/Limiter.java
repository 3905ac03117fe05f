package dev.ratelimit.limiter;

/**
 * A counting algorithm with fixed parameters (window, slots, refill...). Stateless and thread-safe: the per-key state
 * lives in a {@link StateBuffer} owned by the store, which calls {@link #apply} under its per-key lock. The limit is
 * a parameter rather than part of the algorithm, so a reload or an Envoy override that only changes a limit keeps the
 * counters. Implementations are value objects: {@code equals} when their parameters are, so a reload can tell which
 * rules changed, and {@code toString} names the parameters for logs and the admin {@code /config} page.
 *
 * <p>The hierarchy is sealed: every algorithm the server has is one of the permitted classes, and code that must treat
 * each algorithm in its own way (the Redis store's script arguments) does so through {@link #accept} and a
 * {@link Visitor}, which the compiler keeps exhaustive: a new algorithm is a new visitor method that every visitor must
 * implement (a visitor rather than Java 21's pattern switch because we build for Java 17, and rather than an enum of
 * kinds because it hands each branch its own class without a cast).
 */
public sealed interface Limiter
    permits SlidingWindowLimiter, FixedWindowLimiter, TokenBucketLimiter, PenaltyLimiter, UnlimitedLimiter {
  /**
   * The largest integer every twin of these algorithms holds exactly: the Redis script computes in Lua's doubles, so
   * counts, limits and times beyond 2<sup>53</sup> are clamped to it (all far past any use).
   */
  long MAX_EXACT = 1L << 53;

  /**
   * Bytes of state a key needs to be decided under {@code limit}, given the {@code storedBytes} it holds now (0 for a
   * key never seen). When this differs from {@code storedBytes}, the store grows the state with {@link #resize}
   * before applying: a counter never restarts because its limit grew.
   */
  int stateSize(int storedBytes, long limit);

  /**
   * Copies a state of another size ({@code from}) into {@code to}, which is zeroed and {@link #stateSize} bytes long,
   * keeping every count. The default starts afresh: right for algorithms whose state size never changes (a stored
   * state of another size can then only be garbage).
   */
  default void resize(StateBuffer from, StateBuffer to) {
  }

  /**
   * Identifies what a counter counts: the algorithm and its time geometry (window, slots, refill interval), never the
   * limit or the counter width. Keys embed it, so counters carry over a reload to a rule with the same shape.
   */
  int stateShape();

  /**
   * Decides whether {@code hits} more requests at {@code nowMillis} fit within {@code limit}, and records them in
   * {@code state} when they do. {@code hits == 0} only reads. A rejected request is never recorded.
   */
  Verdict apply(StateBuffer state, long nowMillis, long hits, long limit);

  /**
   * Takes back {@code hits} that {@link #apply} admitted and recorded at the same {@code nowMillis}, because another
   * descriptor rejected the request (a rejected request counts nowhere). Never takes a count below zero; hits that
   * have aged out meanwhile are not taken back twice.
   */
  void refund(StateBuffer state, long nowMillis, long hits, long limit);

  /** Calls the {@code visitor} method for this limiter's class. */
  <R> R accept(Visitor<R> visitor);

  /** One method per algorithm: an operation defined for every limiter, checked exhaustive by the compiler. */
  interface Visitor<R> {
    R slidingWindow(SlidingWindowLimiter limiter);

    R fixedWindow(FixedWindowLimiter limiter);

    R tokenBucket(TokenBucketLimiter limiter);

    R penalty(PenaltyLimiter limiter);

    R unlimited(UnlimitedLimiter limiter);
  }
}
