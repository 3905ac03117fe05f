package dev.ratelimit.limiter;

/**
 * The outcome of one descriptor against its limit.
 *
 * @param overLimit the hits were not admitted (and not recorded)
 * @param limit the limit in force for this decision
 * @param current requests counted in the window after the decision
 * @param remaining {@code limit - current}, signed: zero or negative when over (e.g. after a limit was lowered)
 * @param resetAtMillis epoch millis when the oldest counted request ages out and frees a slot (for a token bucket:
 *     when the next refill lands)
 */
public record Verdict(boolean overLimit, long limit, long current, long remaining, long resetAtMillis) {

  /** Milliseconds until reset from {@code nowMillis}, never negative. */
  public long millisUntilReset(long nowMillis) {
    return Math.max(0, resetAtMillis - nowMillis);
  }

  /** Seconds until reset from {@code nowMillis}, rounded up, never negative. */
  public long secondsUntilReset(long nowMillis) {
    long millis = Math.max(0, resetAtMillis - nowMillis);
    return (millis + 999) / 1000;
  }

  /** The reset as absolute Unix seconds, rounded up. */
  public long resetEpochSeconds() {
    return Math.floorDiv(resetAtMillis + 999, 1000);
  }
}
