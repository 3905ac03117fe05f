package dev.ratelimit.service;

import dev.ratelimit.config.RateLimitRule;
import dev.ratelimit.store.StoreException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The service's Micrometer meters. Label values come from configuration only (domain, rule name), never from request
 * values, so cardinality stays bounded whatever clients send.
 */
public final class ServiceMetrics {
  private static final String NO_RULE = "";

  private final MeterRegistry registry;
  /** domain → rule name ("" for no rule) → counter per outcome ordinal; looked up without building strings. */
  private final Map<String, Map<String, Counter[]>> decisions = new ConcurrentHashMap<>();
  private final Counter unknownDomain;
  private final Counter invalidRequests;
  private final Map<StoreException.Kind, Counter> storeFailures = new EnumMap<>(StoreException.Kind.class);
  private final Timer latency;

  public ServiceMetrics(MeterRegistry registry) {
    this.registry = registry;
    this.unknownDomain = Counter.builder("ratelimit_unknown_domain")
        .description("Requests for a domain no policy declares (answered OK)")
        .register(registry);
    this.invalidRequests = Counter.builder("ratelimit_invalid_requests")
        .description("Requests refused with INVALID_ARGUMENT")
        .register(registry);
    for (StoreException.Kind kind : StoreException.Kind.values()) {
      storeFailures.put(kind, Counter.builder("ratelimit_store_failures")
          .description("Descriptors the store could not decide; the failure mode answered")
          .tag("kind", kind.name().toLowerCase(java.util.Locale.ROOT))
          .register(registry));
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

  public void storeFailure(StoreException.Kind kind) {
    storeFailures.get(kind).increment();
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
