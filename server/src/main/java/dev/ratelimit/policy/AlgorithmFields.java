package dev.ratelimit.policy;

import dev.ratelimit.limiter.FixedWindowLimiter;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.PenaltyLimiter;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.limiter.TokenBucketLimiter;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fields of one {@code rate_limit} that depend on its algorithm (limit, unit, window, precision, token-bucket and
 * dynamic-quota fields, penalty), read and checked into the rule's limiter. Errors name the file, line and field.
 */
final class AlgorithmFields {
  private static final Logger log = LoggerFactory.getLogger(PolicyLoader.class);
  private static final Set<String> DYNAMIC_FIELDS = Set.of("base", "quota_key");
  private static final Set<String> PENALTY_FIELDS = Set.of("over_factor", "duration");
  private static final long MAX_LIMIT = PolicyLoader.MAX_LIMIT;

  private AlgorithmFields() {
  }

  /** What an algorithm's fields resolve to. */
  record Shape(long limit, Unit unit, Duration window, Limiter limiter, DynamicQuota dynamic) {}

  static long requestsPerUnit(YamlMap rl) throws ConfigException {
    parseUnit(rl);
    if (!rl.has("requests_per_unit")) {
      throw rl.error("requests_per_unit", "is required (or set unlimited: true)");
    }
    return rl.number("requests_per_unit", 0, MAX_LIMIT, 0);
  }

  /** The window: {@code unit × unit_multiplier}, or an explicit {@code window}. */
  static Duration window(YamlMap rl, Unit unit) throws ConfigException {
    long multiplier = rl.number("unit_multiplier", 1, 1_000_000, 1);
    Duration window = unit.length().multipliedBy(multiplier);
    if (rl.has("window")) {
      window = Durations.parse(rl.string("window"));
      if (window == null) {
        throw rl.error("window", "must be a positive duration such as 250ms, 10s, 5m, 1h or 1d");
      }
      if (rl.has("unit_multiplier")) {
        throw rl.error("window", "set either window or unit_multiplier, not both");
      }
    }
    return window;
  }

  static Shape slidingWindow(YamlMap rl, long limit, DynamicQuota dynamic) throws ConfigException {
    Unit unit = parseUnit(rl);
    Duration window = window(rl, unit);
    long windowMillis = window.toMillis();
    int defaultPrecision = SlidingWindowLimiter.defaultPrecision(window);
    long precision = rl.number("precision", 1, Math.min(windowMillis, 10_000), defaultPrecision);
    if (windowMillis % precision != 0) {
      throw rl.error("precision", "must divide the window of " + windowMillis + " ms into whole milliseconds; "
          + precision + " does not (the default for this window is " + defaultPrecision + ")");
    }
    // Counters as narrow as the limit allows; a dynamic rule's limit grows with the added quota, so it takes the widest.
    return new Shape(limit, unit, window, new SlidingWindowLimiter(window, (int) precision), dynamic);
  }

  static Shape fixedWindow(YamlMap rl) throws ConfigException {
    long limit = requestsPerUnit(rl);
    Unit unit = parseUnit(rl);
    Duration window = window(rl, unit);
    return new Shape(limit, unit, window, new FixedWindowLimiter(window), null);
  }

  /**
   * {@code capacity} is the limit; {@code initial_tokens} defaults to it and may exceed it (a bucket that starts with a
   * burst, then refills up to the capacity). Capacity 0, refill 0, a zero interval and negative initial tokens are
   * refused; refill tokens above the capacity are accepted with a warning (the bucket simply fills).
   */
  static Shape tokenBucket(YamlMap rl, List<String> warnings) throws ConfigException {
    for (String field : List.of("capacity", "refill_tokens", "refill_interval")) {
      if (!rl.has(field)) {
        throw rl.error(field, "is required for algorithm token_bucket (capacity, refill_tokens, refill_interval;"
            + " initial_tokens defaults to capacity)");
      }
    }
    long capacity = rl.number("capacity", 1, MAX_LIMIT, 0);
    long refill = rl.number("refill_tokens", 1, MAX_LIMIT, 0);
    Duration interval = Durations.parse(rl.string("refill_interval"));
    if (interval == null) {
      throw rl.error("refill_interval", "must be a positive duration such as 250ms, 1s, 10s or 1m");
    }
    long initial = rl.number("initial_tokens", 0, MAX_LIMIT, capacity);
    if (refill > capacity) {
      String warning = rl.warning("refill_tokens", refill + " is above capacity (" + capacity
          + "): each refill fills the bucket, so this acts as refill_tokens: " + capacity);
      log.warn("{}", warning);
      warnings.add(warning);
    }
    Unit unit = rl.has("unit") ? parseUnit(rl) : unitOf(interval);
    return new Shape(capacity, unit, interval, new TokenBucketLimiter(initial, refill, interval), null);
  }

  /** The largest unit not longer than {@code d} (at least a second): what Envoy's headers report for a bucket. */
  static Unit unitOf(Duration d) {
    Unit best = Unit.SECOND;
    for (Unit unit : Unit.values()) {
      if (unit.length().compareTo(d) <= 0) {
        best = unit;
      }
    }
    return best;
  }

  static Shape dynamic(YamlMap rl, DescriptorNode parent, String key) throws ConfigException {
    YamlMap dynamic = rl.map("dynamic");
    if (dynamic == null) {
      throw rl.error("dynamic", "is required for algorithm dynamic: {base: <requests per window>, quota_key: org}");
    }
    dynamic.rejectUnknown(DYNAMIC_FIELDS);
    if (!dynamic.has("base")) {
      throw dynamic.error("base", "is required: the requests per window before the added quota");
    }
    long base = dynamic.number("base", 0, MAX_LIMIT, 0);
    String quotaKey = dynamic.has("quota_key") ? dynamic.requiredString("quota_key") : "org";
    int depth = -1;
    List<String> path = new ArrayList<>();
    path.add(key);
    if (key.equals(quotaKey)) {
      depth = parent.depth() + 1;
    }
    for (DescriptorNode n = parent; n.parent() != null; n = n.parent()) {
      path.add(0, n.key());
      if (depth < 0 && n.key().equals(quotaKey)) {
        depth = n.depth();
      }
    }
    if (depth < 0) {
      throw dynamic.error(dynamic.has("quota_key") ? "quota_key" : "base", "the quota key '" + quotaKey
          + "' is not a key of this rule's descriptor " + path + "; set quota_key to the key naming the organisation");
    }
    return slidingWindow(rl, base, new DynamicQuota(quotaKey, depth));
  }

  /** Wraps the rule's limiter in the penalty of {@code penalty: {over_factor, duration}}. */
  static Limiter penalty(YamlMap penalty, Limiter limiter, Duration window) throws ConfigException {
    penalty.rejectUnknown(PENALTY_FIELDS);
    for (String field : List.of("over_factor", "duration")) {
      if (!penalty.has(field)) {
        throw penalty.error(field, "is required: penalty: {over_factor: 2, duration: 60s}");
      }
    }
    BigDecimal factor;
    try {
      factor = new BigDecimal(penalty.string("over_factor"));
    } catch (NumberFormatException e) {
      factor = null;
    }
    if (factor == null || factor.compareTo(BigDecimal.ONE) < 0 || factor.compareTo(BigDecimal.valueOf(1_000_000)) > 0) {
      throw penalty.error("over_factor", "must be a number from 1 to 1000000 (how many times its limit a client"
          + " may send in one window before the penalty), not '" + penalty.string("over_factor") + "'");
    }
    Duration duration = Durations.parse(penalty.string("duration"));
    if (duration == null) {
      throw penalty.error("duration", "must be a positive duration such as 30s, 5m or 1h");
    }
    return new PenaltyLimiter(limiter, factor, duration, window);
  }

  static Unit parseUnit(YamlMap rl) throws ConfigException {
    String name = rl.string("unit");
    if (name == null) {
      throw rl.error("unit", "is required: second, minute, hour, day, week, month or year");
    }
    Unit unit = Unit.parse(name);
    if (unit == null) {
      throw rl.error("unit", "unknown unit '" + name + "'; expected second, minute, hour, day, week, month or year");
    }
    return unit;
  }
}
