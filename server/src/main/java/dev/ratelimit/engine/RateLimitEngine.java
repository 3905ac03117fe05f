package dev.ratelimit.engine;

import dev.ratelimit.ops.ServiceMetrics;
import dev.ratelimit.policy.DomainPolicy;
import dev.ratelimit.policy.PolicyIndex;
import dev.ratelimit.policy.RateLimitRule;
import dev.ratelimit.policy.RejectedRequests;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.quota.QuotaBook;
import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.StoreException;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Decides one {@code ShouldRateLimit} call, independent of the transport, as a pipeline of three steps
 * (docs/architecture.md): {@link DescriptorResolver} turns each descriptor into a rule, counter key, hits and limit;
 * one store batch decides them all ({@link CounterStore#applyAll}, where a rejected request is taken back); and
 * {@link ResponseAssembler} builds Envoy's response with the headers of the one descriptor that reports them.
 */
public final class RateLimitEngine {
  public static final String HEADER_REMAINING = ResponseHeaders.X_REMAINING;
  public static final String HEADER_CURRENT = ResponseHeaders.X_CURRENT;
  public static final String HEADER_RESET = ResponseHeaders.X_RESET;
  /** Descriptors of a call the store failed to decide, noted on the call's span when tracing is on. */
  public static final AttributeKey<Long> STORE_FAILURES = AttributeKey.longKey("ratelimit.store_failures");

  private final Supplier<PolicyIndex> policy;
  private final CounterStore store;
  private final Clock clock;
  private final RequestLimits limits;
  private final FailureMode failureMode;
  private final ServiceMetrics metrics;
  private final QuotaBook quotas;
  private final RejectedRequests rejectedRequests;
  private final DescriptorResolver resolver;
  private final ResponseAssembler assembler;

  /**
   * @param quotas the organisations' added quotas, read by {@code dynamic} rules
   * @param addresses which entries hold client addresses and how they are keyed (docs/security.md)
   * @param rejectedRequests what a rejected request leaves in its other descriptors' counters, for domains that do
   *     not say
   * @param headers how the reporting descriptor's headers are written ({@code --response-headers})
   */
  public RateLimitEngine(
      Supplier<PolicyIndex> policy,
      CounterStore store,
      Clock clock,
      RequestLimits limits,
      FailureMode failureMode,
      ServiceMetrics metrics,
      QuotaBook quotas,
      ClientAddressPolicy addresses,
      RejectedRequests rejectedRequests,
      ResponseHeaders headers) {
    this.rejectedRequests = Objects.requireNonNull(rejectedRequests, "rejectedRequests");
    this.quotas = Objects.requireNonNull(quotas, "quotas");
    this.policy = Objects.requireNonNull(policy, "policy");
    this.store = Objects.requireNonNull(store, "store");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.limits = Objects.requireNonNull(limits, "limits");
    this.failureMode = Objects.requireNonNull(failureMode, "failureMode");
    this.metrics = Objects.requireNonNull(metrics, "metrics");
    this.resolver = new DescriptorResolver(limits, addresses, quotas, metrics);
    this.assembler = new ResponseAssembler(failureMode, metrics, headers);
  }

  /** The clock decisions are taken at. */
  public Clock clock() {
    return clock;
  }

  /** The organisations' dynamic quotas this engine reads. */
  public QuotaBook quotas() {
    return quotas;
  }

  /** Decides a request; nothing is counted when it is refused. */
  public RateLimitResponse shouldRateLimit(RateLimitRequest request) throws InvalidRequestException {
    long start = System.nanoTime();
    try {
      return decide(request);
    } catch (InvalidRequestException e) {
      metrics.invalidRequest();
      throw e;
    } finally {
      metrics.latency(System.nanoTime() - start);
    }
  }

  /** Resolve, decide in one store batch, assemble (docs/architecture.md). */
  private RateLimitResponse decide(RateLimitRequest request) throws InvalidRequestException {
    validateShape(request);
    DomainPolicy domain = policy.get().domain(request.getDomain());
    if (domain == null) {
      metrics.unknownDomain();
      return ResponseAssembler.allOk(request.getDescriptorsCount());
    }
    long now = clock.millis();
    Evaluation[] evaluations = resolver.resolveAll(request, domain, now);
    applyCounted(evaluations, now, new CounterStore.Batch(
        domain.rejectedRequests(rejectedRequests) == RejectedRequests.COUNT_NOWHERE, failureMode == FailureMode.DENY));
    return assembler.assemble(request, domain.domain(), evaluations, now);
  }

  /**
   * Sends every counted descriptor of the request to the store in one batch (a remote store then needs one round
   * trip), leaving each one's verdict or failure in its evaluation. When a descriptor that could not be evaluated
   * rejects the request already (failure mode deny) and a rejected request counts nowhere, the others are only read.
   */
  private void applyCounted(Evaluation[] evaluations, long now, CounterStore.Batch batch) {
    boolean rejectedAlready = false;
    for (Evaluation e : evaluations) {
      rejectedAlready |= e != null && e.error != null && batch.failuresReject();
    }
    boolean readOnly = rejectedAlready && batch.countNowhere();
    List<Evaluation> counted = new ArrayList<>(evaluations.length);
    List<CounterStore.Op> ops = new ArrayList<>(evaluations.length);
    for (Evaluation e : evaluations) {
      if (e != null && e.counted()) {
        ops.add(new CounterStore.Op(e.key, e.rule.limiter(), readOnly ? 0 : e.hits, e.limit, !e.rule.shadowMode()));
        counted.add(e);
      }
    }
    if (ops.isEmpty()) {
      return;
    }
    CounterStore.Result[] results = store.applyAll(ops, now, batch);
    long failures = 0;
    for (int i = 0; i < results.length; i++) {
      counted.get(i).verdict = results[i].verdict();
      counted.get(i).failure = results[i].failure();
      failures += results[i].failure() == null ? 0 : 1;
    }
    if (failures > 0) {
      Span.current().setAttribute(STORE_FAILURES, failures); // a no-op without a traced call
    }
  }

  /**
   * A counter as seen by {@link #inspect}.
   *
   * @param rule the rule the descriptor matched
   * @param verdict the counter's state now, as a check-only decision would see it
   */
  public record CounterView(RateLimitRule rule, Verdict verdict) {}

  /**
   * Reads one descriptor's counter without counting anything, for the admin API. Null when the domain is unknown or
   * the descriptor matches no rule or an unlimited one.
   *
   * @throws StoreException when the store cannot read the counter
   */
  public CounterView inspect(String domainName, RateLimitDescriptor descriptor) throws InvalidRequestException {
    RateLimitRequest request = RateLimitRequest.newBuilder().setDomain(domainName).addDescriptors(descriptor).build();
    validateShape(request);
    if (descriptor.getEntriesCount() == 0) {
      throw new InvalidRequestException("the descriptor has no entries");
    }
    DomainPolicy domain = policy.get().domain(domainName);
    long now = clock.millis();
    Evaluation e = domain == null ? null : resolver.resolve(request, domain, 0, now);
    if (e == null || e.rule.unlimited()) {
      return null;
    }
    return new CounterView(e.rule, store.apply(e.key, e.rule.limiter(), now, 0, e.limit));
  }

  private void validateShape(RateLimitRequest request) throws InvalidRequestException {
    if (request.getDomain().isEmpty()) {
      throw new InvalidRequestException("the domain must not be empty");
    }
    int count = request.getDescriptorsCount();
    if (count == 0) {
      throw new InvalidRequestException("at least one descriptor is required");
    }
    if (count > limits.maxDescriptors()) {
      throw new InvalidRequestException(count + " descriptors exceed the maximum of " + limits.maxDescriptors()
          + " per request");
    }
  }
}
