package dev.ratelimit.policy;

import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.UnlimitedLimiter;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * One configured limit, immutable: what a matching descriptor is counted against. Built with {@link #builder}.
 *
 * @param id stable identity: the domain and the key path to the rule, e.g. {@code api/tier=pro/org}; used for
 *     metrics and to tell on reload whether a rule changed
 * @param name the configured {@code rate_limit.name}, or {@code id} when none was given
 * @param requestsPerUnit the limit per window (ignored when {@link #unlimited})
 * @param unit the configured unit, reported to Envoy
 * @param window the window length (one unit times {@code unit_multiplier} unless {@code window} was set)
 * @param algorithm how hits are counted, as configured
 * @param limiter the algorithm instance built for this rule's parameters; {@link UnlimitedLimiter} for a rule that
 *     allows every request and counts none
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
    boolean shadowMode,
    boolean reportHeaders,
    boolean detailedMetric,
    List<String> replaces,
    DynamicQuota dynamic) {

  public RateLimitRule {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(unit, "unit");
    Objects.requireNonNull(window, "window");
    Objects.requireNonNull(algorithm, "algorithm");
    Objects.requireNonNull(limiter, "limiter");
    replaces = List.copyOf(replaces);
    if ((algorithm == Algorithm.DYNAMIC) != (dynamic != null)) {
      throw new IllegalArgumentException("a dynamic rule, and only a dynamic rule, has a dynamic quota");
    }
  }

  /**
   * A rule with the given id and these defaults until set: named after its id, unlimited (limit 0, one second,
   * {@link UnlimitedLimiter}), {@code sliding_window}, enforcing, reporting headers, no detailed metric, replacing
   * nothing, not dynamic.
   */
  public static Builder builder(String id) {
    return new Builder(id);
  }

  /** Every request is allowed and none is counted. */
  public boolean unlimited() {
    return limiter instanceof UnlimitedLimiter;
  }

  /**
   * True when counters kept under {@code other} carry over to this rule: same algorithm, window and slots (for a token
   * bucket, the same refill interval). A changed limit keeps them, whatever its size: a sliding window's counters
   * widen in place when a limit outgrows them. Unlimited rules hold no counters: they share them only with each other.
   */
  public boolean sharesCountersWith(RateLimitRule other) {
    if (unlimited() || other.unlimited()) {
      return unlimited() && other.unlimited();
    }
    return limiter.stateShape() == other.limiter.stateShape();
  }

  /** Named setters for a {@link RateLimitRule}; {@link #build} checks the result. */
  public static final class Builder {
    private final String id;
    private String name;
    private long requestsPerUnit;
    private Unit unit = Unit.SECOND;
    private Duration window;
    private Algorithm algorithm = Algorithm.SLIDING_WINDOW;
    private Limiter limiter = UnlimitedLimiter.INSTANCE;
    private boolean shadowMode;
    private boolean reportHeaders = true;
    private boolean detailedMetric;
    private List<String> replaces = List.of();
    private DynamicQuota dynamic;

    private Builder(String id) {
      this.id = Objects.requireNonNull(id, "id");
    }

    /** The configured name; the id when never set (or set to null). */
    public Builder name(String name) {
      this.name = name;
      return this;
    }

    public Builder requestsPerUnit(long requestsPerUnit) {
      this.requestsPerUnit = requestsPerUnit;
      return this;
    }

    /** The unit; also the window unless {@link #window} is set. */
    public Builder unit(Unit unit) {
      this.unit = unit;
      return this;
    }

    public Builder window(Duration window) {
      this.window = window;
      return this;
    }

    public Builder algorithm(Algorithm algorithm) {
      this.algorithm = algorithm;
      return this;
    }

    public Builder limiter(Limiter limiter) {
      this.limiter = limiter;
      return this;
    }

    public Builder shadowMode(boolean shadowMode) {
      this.shadowMode = shadowMode;
      return this;
    }

    public Builder reportHeaders(boolean reportHeaders) {
      this.reportHeaders = reportHeaders;
      return this;
    }

    public Builder detailedMetric(boolean detailedMetric) {
      this.detailedMetric = detailedMetric;
      return this;
    }

    public Builder replaces(List<String> replaces) {
      this.replaces = replaces;
      return this;
    }

    /** Where a {@code dynamic} rule finds the organisation; set exactly when the algorithm is {@code dynamic}. */
    public Builder dynamic(DynamicQuota dynamic) {
      this.dynamic = dynamic;
      return this;
    }

    public RateLimitRule build() {
      return new RateLimitRule(id, name == null ? id : name, requestsPerUnit, unit,
          window == null && unit != null ? unit.length() : window, algorithm, limiter, shadowMode, reportHeaders,
          detailedMetric, replaces, dynamic);
    }
  }
}
