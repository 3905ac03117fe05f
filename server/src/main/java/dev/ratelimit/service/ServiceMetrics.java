package dev.ratelimit.service;

import dev.ratelimit.config.RateLimitRule;
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
 * failure is also logged, at most once a minute per kind.
 */
public final class ServiceMetrics {
  private static final String NO_RULE = "";
  /** The {@code descriptor} label of detailed decisions beyond a rule's cap of distinct values. */
  public static final String OTHER_VALUES = "_other";
  /** Distinct descriptor values a {@code detailed_metric} rule gets its own series for, by default. */
  public static final int DEFAULT_DETAILED_VALUES = 100;
  private static final Logger log = LoggerFactory.getLogger(ServiceMetrics.class);

  private final MeterRegistry registry;
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

  /**
   * @param clock paces the store-failure log lines (one a minute per kind)
   * @param detailedValuesPerRule distinct descriptor values of a {@code detailed_metric} rule with their own series
   */
  public ServiceMetrics(MeterRegistry registry, Clock clock, int detailedValuesPerRule) {
    if (detailedValuesPerRule < 0) {
      throw new IllegalArgumentException("detailed values per rule must be at least 0, not " + detailedValuesPerRule);
    }
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
