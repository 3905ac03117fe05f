package dev.ratelimit.limiter;

/**
 * A counting algorithm with fixed parameters (window, slots, refill...). Stateless and thread-safe: the per-key state
 * lives in a {@link StateBuffer} owned by the store, which calls {@link #apply} under its per-key lock. The limit is
 * a parameter rather than part of the algorithm, so a reload or an Envoy override that only changes a limit keeps the
 * counters. Implementations are value objects: {@code equals} when their parameters are, so a reload can tell which
 * rules changed, and {@code toString} names the parameters for logs and the admin {@code /config} page.
 */
public interface Limiter {
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
}
