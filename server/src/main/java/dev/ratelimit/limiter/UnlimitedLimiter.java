package dev.ratelimit.limiter;

/**
 * The algorithm of an {@code unlimited: true} rule: every request is admitted and nothing is counted, so it needs no
 * state. The engine answers such rules without asking the store; a store asked anyway admits and keeps nothing.
 */
public final class UnlimitedLimiter implements Limiter {
  /** The one instance: an unlimited rule has no parameters. */
  public static final UnlimitedLimiter INSTANCE = new UnlimitedLimiter();

  private UnlimitedLimiter() {
  }

  @Override
  public int stateSize(int storedBytes, long limit) {
    return 0;
  }

  @Override
  public int stateShape() {
    return "unlimited".hashCode();
  }

  /** Admits: nothing counted, {@code remaining} is the limit, the reset is now. */
  @Override
  public Verdict apply(StateBuffer state, long nowMillis, long hits, long limit) {
    return new Verdict(false, limit, 0, limit, nowMillis);
  }

  @Override
  public void refund(StateBuffer state, long nowMillis, long hits, long limit) {
  }

  @Override
  public <R> R accept(Visitor<R> visitor) {
    return visitor.unlimited(this);
  }

  @Override
  public String toString() {
    return "unlimited";
  }
}
