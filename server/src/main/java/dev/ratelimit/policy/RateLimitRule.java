package dev.ratelimit.policy;

import dev.ratelimit.limiter.Limiter;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * One configured limit, immutable: what a matching descriptor is counted against.
 *
 * @param id stable identity: the domain and the key path to the rule, e.g. {@code api/tier=pro/org}; used for
 *     metrics and to tell on reload whether a rule changed
 * @param name the configured {@code rate_limit.name}, or {@code id} when none was given
 * @param requestsPerUnit the limit per window (ignored when {@code unlimited})
 * @param unit the configured unit, reported to Envoy
 * @param window the window length (one unit times {@code unit_multiplier} unless {@code window} was set)
 * @param algorithm how hits are counted
 * @param limiter the algorithm instance built for this rule's parameters
 * @param unlimited every request is allowed and not counted
 * @param shadowMode over-limit decisions are reported and counted but never reject
 * @param reportHeaders this rule may supply the {@code x-ratelimit-*} response headers
 * @param detailedMetric metrics carry the descriptor's values
 * @param replaces names of rules this rule replaces when both match one request
 * @param dynamic for a {@code dynamic} rule, where the organisation is found (its limit is {@code requestsPerUnit}
 *     plus the organisation's added quota); null for other algorithms
 */
public record RateLimitRule(
    String id,
    String name,
    long requestsPerUnit,
    Unit unit,
    Duration window,
    Algorithm algorithm,
    Limiter limiter,
    boolean unlimited,
    boolean shadowMode,
    boolean reportHeaders,
    boolean detailedMetric,
    List<String> replaces,
    DynamicQuota dynamic) {

  public RateLimitRule {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(window, "window");
    Objects.requireNonNull(algorithm, "algorithm");
    replaces = List.copyOf(replaces);
    if ((algorithm == Algorithm.DYNAMIC) != (dynamic != null)) {
      throw new IllegalArgumentException("a dynamic rule, and only a dynamic rule, has a dynamic quota");
    }
  }

  /** A rule of any algorithm but {@code dynamic}. */
  public RateLimitRule(String id, String name, long requestsPerUnit, Unit unit, Duration window, Algorithm algorithm,
      Limiter limiter, boolean unlimited, boolean shadowMode, boolean reportHeaders, boolean detailedMetric,
      List<String> replaces) {
    this(id, name, requestsPerUnit, unit, window, algorithm, limiter, unlimited, shadowMode, reportHeaders,
        detailedMetric, replaces, null);
  }

  /**
   * True when counters kept under {@code other} carry over to this rule: same algorithm, window and slots (for a token
   * bucket, the same refill interval). A changed limit keeps them, whatever its size: a sliding window's counters
   * widen in place when a limit outgrows them.
   */
  public boolean sharesCountersWith(RateLimitRule other) {
    return limiter.stateShape() == other.limiter.stateShape();
  }
}
