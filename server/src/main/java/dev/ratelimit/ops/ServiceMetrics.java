package dev.ratelimit.ops;

import dev.ratelimit.engine.Outcome;
import dev.ratelimit.policy.RateLimitRule;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.store.StoreException;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Clock;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The service's Micrometer meters. Label values come from configuration (domain, rule name), never from request values,
 * so cardinality stays bounded whatever clients send; the one exception, {@code ratelimit_detailed_decisions} for rules
 * with {@code detailed_metric: true}, is capped per rule and folds further values into {@value #OTHER_VALUES}. A store
 * failure is also logged, at most once a minute per kind. Over 250 lines only because it registers some twenty meters
 * with their descriptions, each defined once here.
 */
public final class ServiceMetrics {
  private static final String NO_RULE = "";
  /** The {@code descriptor} label of detailed decisions beyond a rule's cap of distinct values. */
  public static final String OTHER_VALUES = "_other";
  /** Distinct descriptor values a {@code detailed_metric} rule gets its own series for, by default. */
  public static final int DEFAULT_DETAILED_VALUES = 100;
  private static final Logger log = LoggerFactory.getLogger(ServiceMetrics.class);

  /** envoyproxy/ratelimit's {@code NEAR_LIMIT_RATIO} default. */
  public static final double DEFAULT_NEAR_LIMIT_RATIO = 0.8;

  private final MeterRegistry registry;
  private final double nearLimitRatio;
  /** domain → rule id → envoyproxy/ratelimit's per-key stats. */
  private final Map<String, Map<String, KeyStats>> keyStats = new ConcurrentHashMap<>();
  /** domain → rule name ("" for no rule) → counter per outcome ordinal; looked up without building strings. */
  private final Map<String, Map<String, Counter[]>> decisions = new ConcurrentHashMap<>();
  private final Counter unknownDomain;
  private final Counter invalidRequests;
  private final Counter invalidClientAddresses;
  private final Counter descriptorFailures;
  private final Counter digestedKeys;
  private final LogThrottle descriptorFailureLog;
  private final Map<StoreException.Kind, Counter> storeFailures = new EnumMap<>(StoreException.Kind.class);
  private final Timer latency;
  private final Map<StoreException.Kind, LogThrottle> storeFailureLogs = new EnumMap<>(StoreException.Kind.class);
  private final int detailedValuesPerRule;
  /** domain → rule name → descriptor label → counter per outcome ordinal; at most the cap of labels per rule. */
  private final Map<String, Map<String, Map<String, Counter[]>>> detailed = new ConcurrentHashMap<>();

  /** Meters with the system clock for log throttling and the default cap on detailed values. */
  public ServiceMetrics(MeterRegistry registry) {
    this(registry, Clock.systemUTC(), DEFAULT_DETAILED_VALUES);
  }

  /** Meters with the default near-limit ratio. */
  public ServiceMetrics(MeterRegistry registry, Clock clock, int detailedValuesPerRule) {
    this(registry, clock, detailedValuesPerRule, DEFAULT_NEAR_LIMIT_RATIO);
  }

  /**
   * @param clock paces the store-failure log lines (one a minute per kind)
   * @param detailedValuesPerRule distinct descriptor values of a {@code detailed_metric} rule with their own series
   * @param nearLimitRatio share of a limit from which admitted hits count as {@code ratelimit_near_limit} (0..1)
   */
  public ServiceMetrics(MeterRegistry registry, Clock clock, int detailedValuesPerRule, double nearLimitRatio) {
    if (detailedValuesPerRule < 0) {
      throw new IllegalArgumentException("detailed values per rule must be at least 0, not " + detailedValuesPerRule);
    }
    if (!(nearLimitRatio >= 0 && nearLimitRatio <= 1)) {
      throw new IllegalArgumentException("the near-limit ratio must be between 0 and 1, not " + nearLimitRatio);
    }
    this.nearLimitRatio = nearLimitRatio;
    this.registry = registry;
    this.detailedValuesPerRule = detailedValuesPerRule;
    this.unknownDomain = Counter.builder("ratelimit_unknown_domain")
        .description("Requests for a domain no policy declares (answered OK)")
        .register(registry);
    this.invalidRequests = Counter.builder("ratelimit_invalid_requests")
        .description("Requests refused with INVALID_ARGUMENT")
        .register(registry);
    this.descriptorFailures = Counter.builder("ratelimit_descriptor_failures")
        .description("Descriptors that could not be evaluated (an error inside the server); the failure mode decided "
            + "each one alone, the request's other descriptors were decided as usual")
        .register(registry);
    this.digestedKeys = Counter.builder("ratelimit_digested_keys")
        .description("Counter keys longer than --max-key-bytes, counted under a SHA-256 digest of the whole key")
        .register(registry);
    this.descriptorFailureLog = new LogThrottle(clock, Duration.ofMinutes(1));
    this.invalidClientAddresses = Counter.builder("ratelimit_invalid_client_addresses")
        .description("Client-address entries whose value is not an IP address (they share one counter)")
        .register(registry);
    for (StoreException.Kind kind : StoreException.Kind.values()) {
      storeFailures.put(kind, Counter.builder("ratelimit_store_failures")
          .description("Descriptors the store could not decide; the failure mode answered")
          .tag("kind", kind.name().toLowerCase(java.util.Locale.ROOT))
          .register(registry));
      storeFailureLogs.put(kind, new LogThrottle(clock, Duration.ofMinutes(1)));
    }
    this.latency = Timer.builder("ratelimit_should_rate_limit")
        .description("Time to decide one ShouldRateLimit call")
        .publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofNanos(1_000))
        .maximumExpectedValue(Duration.ofMillis(100))
        .register(registry);
  }

  public MeterRegistry registry() {
    return registry;
  }

  /** Counts one descriptor's decision; {@code rule} is null when none matched. */
  public void decision(String domain, RateLimitRule rule, Outcome outcome) {
    String ruleName = rule == null ? NO_RULE : rule.name();
    Map<String, Counter[]> byRule = decisions.get(domain);
    if (byRule == null) {
      byRule = decisions.computeIfAbsent(domain, d -> new ConcurrentHashMap<>());
    }
    Counter[] byOutcome = byRule.get(ruleName);
    if (byOutcome == null) {
      byOutcome = byRule.computeIfAbsent(ruleName, r -> newCounters(domain, rule));
    }
    byOutcome[outcome.ordinal()].increment();
  }

  /**
   * Counts one descriptor's hits in envoyproxy/ratelimit's per-key stats ({@code total_hits}, {@code over_limit},
   * {@code near_limit}, {@code within_limit}, {@code shadow_mode}), split as its base limiter splits them: of hits
   * that cross the limit, those above it are over the limit and those between the near-limit threshold and the limit
   * are near it.
   *
   * @param rule the rule the descriptor matched
   * @param hits the descriptor's hits_addend
   * @param verdict its decision, or null when the store failed: then only {@code total_hits} counts. Unlimited rules
   *     have no stats
   */
  public void hits(String domain, RateLimitRule rule, long hits, Verdict verdict) {
    if (rule.unlimited()) {
      return; // never counted, so no stats (envoyproxy/ratelimit counts their total_hits only)
    }
    Map<String, KeyStats> byRule = keyStats.get(domain);
    if (byRule == null) {
      byRule = keyStats.computeIfAbsent(domain, d -> new ConcurrentHashMap<>());
    }
    KeyStats stats = byRule.get(rule.id());
    if (stats == null) {
      stats = byRule.computeIfAbsent(rule.id(), id -> new KeyStats(registry, domain, statKey(domain, id)));
    }
    stats.total.increment(hits);
    if (verdict == null || hits == 0) {
      return;
    }
    long limit = verdict.limit();
    long nearThreshold = (long) Math.floor(limit * nearLimitRatio);
    if (verdict.overLimit()) {
      // A rejected request is not recorded: the counter stood at `current` before and would have reached + hits.
      long before = verdict.current();
      long after = saturatedAdd(before, hits);
      long over = before >= limit ? hits : after - limit;
      stats.over.increment(over);
      if (before < limit) {
        stats.near.increment(limit - Math.max(nearThreshold, before));
      }
      if (rule.shadowMode()) {
        stats.shadow.increment(over);
      }
    } else {
      long after = verdict.current();
      long before = after - hits;
      if (after > nearThreshold) {
        stats.near.increment(before >= nearThreshold ? hits : after - nearThreshold);
      }
      stats.within.increment(hits);
    }
  }

  /**
   * envoyproxy/ratelimit's stat key of a rule: its key path below the domain, {@code key_value} per level joined by
   * dots ({@code api/tier=pro/org} is {@code tier_pro.org}).
   */
  static String statKey(String domain, String ruleId) {
    String path = ruleId.startsWith(domain + "/") ? ruleId.substring(domain.length() + 1) : ruleId;
    return path.replace('/', '.').replace('=', '_');
  }

  private static long saturatedAdd(long a, long b) {
    long sum = a + b;
    return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
  }

  /** The five per-key counters of one rule. */
  private static final class KeyStats {
    final Counter total;
    final Counter over;
    final Counter near;
    final Counter within;
    final Counter shadow;

    KeyStats(MeterRegistry registry, String domain, String key) {
      total = keyCounter(registry, "ratelimit_total_hits", "Hits of the rule (hits_addend summed)", domain, key);
      over = keyCounter(registry, "ratelimit_over_limit", "Hits beyond the rule's limit", domain, key);
      near = keyCounter(registry, "ratelimit_near_limit",
          "Hits between the near-limit ratio of the limit (--near-limit-ratio) and the limit", domain, key);
      within = keyCounter(registry, "ratelimit_within_limit", "Hits of requests within the rule's limit", domain,
          key);
      shadow = keyCounter(registry, "ratelimit_shadow_mode",
          "Hits beyond the limit of a shadow_mode rule (reported, never rejected)", domain, key);
    }

    private static Counter keyCounter(MeterRegistry registry, String name, String description, String domain,
        String key) {
      return Counter.builder(name).description(description).tag("domain", domain).tag("key", key).register(registry);
    }
  }

  public void unknownDomain() {
    unknownDomain.increment();
  }

  public void invalidRequest() {
    invalidRequests.increment();
  }

  /** Counts a descriptor the store could not decide, and logs it unless a line for its kind went out this minute. */
  public void storeFailure(StoreException failure) {
    storeFailures.get(failure.kind()).increment();
    long held = storeFailureLogs.get(failure.kind()).acquire();
    if (held != LogThrottle.SUPPRESSED) {
      log.warn("counter store failure ({}): {}; the failure mode answered{}", failure.kind(), failure.getMessage(),
          held == 0 ? "" : " (" + held + " more since the last message; see ratelimit_store_failures)");
    }
  }

  /**
   * Counts a decision of a {@code detailed_metric} rule by the descriptor's entries ({@code key=value/key=value}), in
   * addition to {@link #decision}. A rule's first distinct values up to the cap get their own series; later ones are
   * counted under {@value #OTHER_VALUES}.
   */
  public void detailedDecision(String domain, RateLimitRule rule, RateLimitDescriptor descriptor, Outcome outcome) {
    Map<String, Map<String, Counter[]>> byRule = detailed.computeIfAbsent(domain, d -> new ConcurrentHashMap<>());
    Map<String, Counter[]> byValue = byRule.computeIfAbsent(rule.name(), r -> new ConcurrentHashMap<>());
    String label = descriptorLabel(descriptor);
    Counter[] counters = byValue.get(label);
    if (counters == null) {
      synchronized (byValue) {
        counters = byValue.get(label);
        if (counters == null) {
          // The cap counts real values; the _other series is one more.
          long distinct = byValue.size() - (byValue.containsKey(OTHER_VALUES) ? 1 : 0);
          String kept = distinct < detailedValuesPerRule ? label : OTHER_VALUES;
          counters = byValue.computeIfAbsent(kept, l -> newDetailedCounters(domain, rule.name(), l));
        }
      }
    }
    counters[outcome.ordinal()].increment();
  }

  private static String descriptorLabel(RateLimitDescriptor descriptor) {
    StringBuilder label = new StringBuilder();
    for (int i = 0; i < descriptor.getEntriesCount(); i++) {
      RateLimitDescriptor.Entry entry = descriptor.getEntries(i);
      if (i > 0) {
        label.append('/');
      }
      label.append(entry.getKey()).append('=').append(entry.getValue());
    }
    return label.toString();
  }

  private Counter[] newDetailedCounters(String domain, String ruleName, String label) {
    Counter[] counters = new Counter[Outcome.values().length];
    for (Outcome outcome : Outcome.values()) {
      counters[outcome.ordinal()] = Counter.builder("ratelimit_detailed_decisions")
          .description("Descriptors of detailed_metric rules decided, by descriptor value (capped per rule; the rest"
              + " under " + OTHER_VALUES + ")")
          .tag("domain", domain)
          .tag("rule", ruleName)
          .tag("descriptor", label)
          .tag("outcome", outcome.label())
          .register(registry);
    }
    return counters;
  }

  /** Counts a descriptor that could not be evaluated, and logs it with its stack at most once a minute. */
  public void descriptorFailure(String domain, int index, RuntimeException failure) {
    descriptorFailures.increment();
    long held = descriptorFailureLog.acquire();
    if (held != LogThrottle.SUPPRESSED) {
      log.error("descriptor {} of a request for domain '{}' could not be evaluated; the failure mode answered it{}",
          index, domain, held == 0 ? "" : " (" + held + " more since the last message; see "
              + "ratelimit_descriptor_failures)", failure);
    }
  }

  /** Counts a counter key that was too long and is counted under its digest. */
  public void digestedKey() {
    digestedKeys.increment();
  }

  public void invalidClientAddress() {
    invalidClientAddresses.increment();
  }

  /** Records the duration of one call. */
  public void latency(long nanos) {
    latency.record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
  }

  private Counter[] newCounters(String domain, RateLimitRule rule) {
    Counter[] counters = new Counter[Outcome.values().length];
    for (Outcome outcome : Outcome.values()) {
      counters[outcome.ordinal()] = Counter.builder("ratelimit_decisions")
          .description("Descriptors decided, by domain, rule name and outcome")
          .tag("domain", domain)
          .tag("rule", rule == null ? "none" : rule.name())
          .tag("outcome", outcome.label())
          .register(registry);
    }
    return counters;
  }
}
