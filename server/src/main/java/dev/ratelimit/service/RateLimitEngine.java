package dev.ratelimit.service;

import com.google.protobuf.Duration;
import dev.ratelimit.config.Algorithm;
import dev.ratelimit.config.DescriptorNode;
import dev.ratelimit.config.DomainPolicy;
import dev.ratelimit.config.PolicyIndex;
import dev.ratelimit.config.PolicyLoader;
import dev.ratelimit.config.RateLimitRule;
import dev.ratelimit.config.RejectedRequests;
import dev.ratelimit.config.Unit;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.quota.QuotaBook;
import dev.ratelimit.quota.QuotaLedger;
import dev.ratelimit.security.ClientAddress;
import dev.ratelimit.security.ClientAddressPolicy;
import dev.ratelimit.store.CounterKey;
import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.StoreException;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.DescriptorStatus;
import java.time.Clock;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Decides one {@code ShouldRateLimit} call (DESIGN §3–4), independent of the transport: matches each descriptor to
 * its rule, applies the rule's limiter to the descriptor's counter in the store, and builds Envoy's response with the
 * {@code x-ratelimit-*} headers of the one descriptor that should report them.
 */
public final class RateLimitEngine {
  public static final String HEADER_REMAINING = ResponseHeaders.X_REMAINING;
  public static final String HEADER_CURRENT = ResponseHeaders.X_CURRENT;
  public static final String HEADER_RESET = ResponseHeaders.X_RESET;

  private final Supplier<PolicyIndex> policy;
  private final CounterStore store;
  private final Clock clock;
  private final RequestLimits limits;
  private final FailureMode failureMode;
  private final ServiceMetrics metrics;
  private final ThreadLocal<CounterKey> keys;
  private final ClientAddressPolicy addresses;
  private final ThreadLocal<ClientAddress> parsedAddresses = ThreadLocal.withInitial(ClientAddress::new);
  /** Sliding windows for Envoy's limit overrides, by unit; a rule's counter of the same window is shared. */
  private final Map<Unit, Limiter> overrideLimiters = new EnumMap<>(Unit.class);
  private final QuotaBook quotas;
  private final RejectedRequests rejectedRequests;
  private final ResponseHeaders headers;

  /**
   * @param quotas the organisations' added quotas, read by {@code dynamic} rules
   * @param addresses which entries hold client addresses and how they are keyed (docs/security.md)
   * @param rejectedRequests what a rejected request leaves in its other descriptors' counters, for domains that do
   *     not say
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
      RejectedRequests rejectedRequests) {
    this(policy, store, clock, limits, failureMode, metrics, quotas, addresses, rejectedRequests,
        ResponseHeaders.defaults());
  }

  /** @param headers how the reporting descriptor's headers are written ({@code --response-headers}) */
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
    this.headers = Objects.requireNonNull(headers, "headers");
    this.rejectedRequests = Objects.requireNonNull(rejectedRequests, "rejectedRequests");
    this.addresses = Objects.requireNonNull(addresses, "addresses");
    this.quotas = Objects.requireNonNull(quotas, "quotas");
    this.policy = Objects.requireNonNull(policy, "policy");
    this.store = Objects.requireNonNull(store, "store");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.limits = Objects.requireNonNull(limits, "limits");
    this.failureMode = Objects.requireNonNull(failureMode, "failureMode");
    this.metrics = Objects.requireNonNull(metrics, "metrics");
    this.keys = ThreadLocal.withInitial(() -> new CounterKey(limits.maxKeyBytes()));
    for (Unit unit : Unit.values()) {
      overrideLimiters.put(unit,
          new SlidingWindowLimiter(unit.length(), SlidingWindowLimiter.defaultPrecision(unit.length())));
    }
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

  private RateLimitResponse decide(RateLimitRequest request) throws InvalidRequestException {
    validateShape(request);
    int count = request.getDescriptorsCount();
    DomainPolicy domain = policy.get().domain(request.getDomain());
    if (domain == null) {
      metrics.unknownDomain();
      RateLimitResponse.Builder ok = RateLimitResponse.newBuilder().setOverallCode(Code.OK);
      for (int i = 0; i < count; i++) {
        ok.addStatuses(DescriptorStatus.newBuilder().setCode(Code.OK));
      }
      return ok.build();
    }
    long now = clock.millis();
    Evaluation[] evaluations = new Evaluation[count];
    for (int i = 0; i < count; i++) {
      try {
        evaluations[i] = resolve(request, domain, i, now);
      } catch (RuntimeException e) {
        // A descriptor that cannot be evaluated is decided alone by the failure mode; the others as usual.
        metrics.descriptorFailure(domain.domain(), i, e);
        evaluations[i] = Evaluation.failed(e);
      }
    }
    dropReplaced(evaluations);
    CounterStore.Batch batch = new CounterStore.Batch(
        domain.rejectedRequests(rejectedRequests) == RejectedRequests.COUNT_NOWHERE, failureMode == FailureMode.DENY);
    applyCounted(evaluations, now, batch);
    RateLimitResponse.Builder response = RateLimitResponse.newBuilder();
    boolean overall = false;
    Evaluation reporter = null;
    for (int i = 0; i < count; i++) {
      Evaluation evaluation = evaluations[i];
      DescriptorStatus.Builder status = DescriptorStatus.newBuilder().setCode(Code.OK);
      Outcome outcome = evaluate(evaluation, now, status);
      metrics.decision(domain.domain(), evaluation == null ? null : evaluation.rule, outcome);
      if (evaluation != null && evaluation.error == null) {
        metrics.hits(domain.domain(), evaluation.rule, evaluation.hits, evaluation.verdict);
      }
      if (evaluation != null && evaluation.rule != null && evaluation.rule.detailedMetric()) {
        metrics.detailedDecision(domain.domain(), evaluation.rule, request.getDescriptors(i), outcome);
      }
      overall |= status.getCode() == Code.OVER_LIMIT;
      if (evaluation != null && evaluation.verdict != null && reportsBefore(evaluation, reporter)) {
        reporter = evaluation;
      }
      response.addStatuses(status);
    }
    response.setOverallCode(overall ? Code.OVER_LIMIT : Code.OK);
    if (reporter != null) {
      headers.write(response, reporter.rule, reporter.verdict, now);
    }
    return response.build();
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
      if (e != null && e.error == null && !e.rule.unlimited()) {
        ops.add(new CounterStore.Op(e.key, e.rule.limiter(), readOnly ? 0 : e.hits, e.limit, !e.rule.shadowMode()));
        counted.add(e);
      }
    }
    if (ops.isEmpty()) {
      return;
    }
    CounterStore.Result[] results = store.applyAll(ops, now, batch);
    for (int i = 0; i < results.length; i++) {
      counted.get(i).verdict = results[i].verdict();
      counted.get(i).failure = results[i].failure();
    }
  }

  /** Fills in one descriptor's status and returns how it was decided. */
  private Outcome evaluate(Evaluation e, long now, DescriptorStatus.Builder status) {
    if (e == null) {
      return Outcome.NO_RULE;
    }
    if (e.error != null || e.failure != null) {
      if (e.failure != null) {
        metrics.storeFailure(e.failure);
      }
      status.setCode(failureMode == FailureMode.DENY ? Code.OVER_LIMIT : Code.OK);
      return e.error != null ? Outcome.DESCRIPTOR_FAILURE : Outcome.STORE_FAILURE;
    }
    if (e.rule.unlimited()) {
      return Outcome.UNLIMITED;
    }
    Verdict v = e.verdict;
    Outcome outcome = !v.overLimit() ? Outcome.OK : e.rule.shadowMode() ? Outcome.SHADOW_OVER_LIMIT : Outcome.OVER_LIMIT;
    long untilReset = v.millisUntilReset(now);
    status.setCode(outcome == Outcome.OVER_LIMIT ? Code.OVER_LIMIT : Code.OK)
        .setCurrentLimit(RateLimitResponse.RateLimit.newBuilder()
            .setName(e.rule.name())
            .setRequestsPerUnit((int) Math.min(v.limit(), 0xFFFF_FFFFL))
            .setUnit(e.rule.unit().proto()))
        .setLimitRemaining((int) Math.max(0, Math.min(v.remaining(), 0xFFFF_FFFFL)))
        .setDurationUntilReset(Duration.newBuilder()
            .setSeconds(untilReset / 1000)
            .setNanos((int) (untilReset % 1000) * 1_000_000));
    return outcome;
  }

  /** The limit in force: the rule's (or override's), plus the organisation's added quota for a dynamic rule. */
  private long limitOf(long limit, String quotaOrg, long now) {
    if (quotaOrg == null) {
      return limit;
    }
    // Changes only at 10-minute boundaries (DESIGN §5).
    return Math.min(limit + quotas.added(quotaOrg, now), PolicyLoader.MAX_LIMIT);
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
    Evaluation e = domain == null ? null : resolve(request, domain, 0, now);
    if (e == null || e.rule.unlimited()) {
      return null;
    }
    return new CounterView(e.rule, store.apply(e.key, e.rule.limiter(), now, 0, e.limit));
  }

  /**
   * Whether {@code candidate} rather than {@code current} supplies the headers: over-limit descriptors first, among
   * them the latest reset (waiting until then frees a slot everywhere); otherwise the fewest remaining. Shadow-mode
   * rules and rules with {@code report_headers: false} never report.
   */
  private static boolean reportsBefore(Evaluation candidate, Evaluation current) {
    if (!candidate.rule.reportHeaders() || candidate.rule.shadowMode()) {
      return false;
    }
    if (current == null) {
      return true;
    }
    Verdict c = candidate.verdict;
    Verdict r = current.verdict;
    if (c.overLimit() != r.overLimit()) {
      return c.overLimit();
    }
    return c.overLimit() ? c.resetAtMillis() > r.resetAtMillis() : c.remaining() < r.remaining();
  }

  /**
   * Finds the rule, counter key, hits and limit of descriptor {@code index}, or null when it matches no rule. Any
   * value a client sends resolves: a key too long for the store is counted under its digest.
   *
   * @throws RuntimeException when the descriptor cannot be evaluated; the caller decides it by the failure mode
   */
  private Evaluation resolve(RateLimitRequest request, DomainPolicy domain, int index, long now) {
    RateLimitDescriptor descriptor = request.getDescriptors(index);
    if (descriptor.getEntriesCount() > limits.maxEntries()) {
      throw new IllegalArgumentException("descriptor " + index + " has " + descriptor.getEntriesCount()
          + " entries; the maximum is " + limits.maxEntries() + " (--max-entries-per-descriptor)");
    }
    descriptor = normaliseAddresses(descriptor);
    DescriptorNode leaf = PolicyIndex.match(domain, descriptor);
    RateLimitRule rule = leaf == null ? null : leaf.rule();
    long limit;
    if (descriptor.hasLimit()) {
      limit = Integer.toUnsignedLong(descriptor.getLimit().getRequestsPerUnit());
      rule = overrideRule(descriptor, rule, index);
    } else if (rule == null) {
      return null;
    } else {
      limit = rule.requestsPerUnit();
    }
    if (rule.unlimited()) {
      return new Evaluation(rule, null, 0, 0);
    }
    CounterKey key = keys.get().start(rule.limiter().stateShape(), request.getDomain());
    if (leaf != null) {
      appendEntries(key, descriptor, leaf);
    } else {
      for (RateLimitDescriptor.Entry entry : descriptor.getEntriesList()) {
        key.add(entry.getKey(), addresses.isAddressKey(entry.getKey())
            ? addressCounterValue(entry.getValue()) : entry.getValue());
      }
    }
    if (key.digested()) {
      metrics.digestedKey();
    }
    String quotaOrg = rule.dynamic() != null && leaf != null
        ? descriptor.getEntries(rule.dynamic().quotaDepth()).getValue() : null;
    return new Evaluation(rule, key.toBytes(), hits(request, descriptor), limitOf(limit, quotaOrg, now));
  }

  /**
   * Appends entries root first, using each level's counter value (the pattern for a shared wildcard). A client
   * address that gets its own counter is keyed by its network (docs/security.md).
   */
  private void appendEntries(CounterKey key, RateLimitDescriptor descriptor, DescriptorNode node) {
    if (node.depth() > 0) {
      appendEntries(key, descriptor, node.parent());
    }
    RateLimitDescriptor.Entry entry = descriptor.getEntries(node.depth());
    String value = entry.getValue();
    String counterValue = node.counterValue(value);
    boolean perValue = node.value() == null || node.value().indexOf('*') >= 0;
    if (perValue && counterValue == value && addresses.isAddressKey(entry.getKey())) {
      key.add(entry.getKey(), addressCounterValue(value));
    } else {
      key.add(entry.getKey(), counterValue);
    }
  }

  /**
   * The descriptor with its client-address values in normal form, so that policy values match however the address
   * was written. Allocates only when some address was not already in normal form.
   */
  private RateLimitDescriptor normaliseAddresses(RateLimitDescriptor descriptor) {
    if (addresses.keys().isEmpty()) {
      return descriptor;
    }
    RateLimitDescriptor.Builder rewritten = null;
    int entries = descriptor.getEntriesCount();
    for (int i = 0; i < entries; i++) {
      RateLimitDescriptor.Entry entry = descriptor.getEntries(i);
      if (!addresses.isAddressKey(entry.getKey())) {
        continue;
      }
      ClientAddress address = parsedAddresses.get();
      if (!address.parse(entry.getValue())) {
        continue;
      }
      CharSequence canonical = address.canonical();
      if (!entry.getValue().contentEquals(canonical)) {
        if (rewritten == null) {
          rewritten = descriptor.toBuilder();
        }
        rewritten.setEntries(i, entry.toBuilder().setValue(canonical.toString()));
      }
    }
    return rewritten == null ? descriptor : rewritten.build();
  }

  /** The counter value of a client address: its network, or one shared value for anything that is not an address. */
  private CharSequence addressCounterValue(String value) {
    ClientAddress address = parsedAddresses.get();
    if (!address.parse(value)) {
      metrics.invalidClientAddress();
      return ClientAddressPolicy.INVALID_ADDRESS;
    }
    return address.network(addresses.ipv4PrefixBits(), addresses.ipv6PrefixBits());
  }

  /**
   * Envoy's per-descriptor limit override, which replaces the matched rule (as in envoyproxy/ratelimit): a sliding
   * window of the override's unit, counting in the matched rule's counter when that is a sliding window of the same
   * length (a counter is identified by what it counts, never by a limit's size).
   */
  private RateLimitRule overrideRule(RateLimitDescriptor descriptor, RateLimitRule matched, int index) {
    Unit unit = Unit.fromEnvoy(descriptor.getLimit().getUnit());
    if (unit == null) {
      throw new IllegalArgumentException("descriptor " + index + ": the limit override has no valid unit");
    }
    String name = matched == null ? "override_" + unit.name().toLowerCase(java.util.Locale.ROOT) : matched.name();
    return new RateLimitRule("override/" + unit, name, 0, unit, unit.length(), Algorithm.SLIDING_WINDOW,
        overrideLimiters.get(unit), false, false, true, false, List.of());
  }

  /**
   * Hits for one descriptor, as Envoy defines them: the descriptor's {@code hits_addend} when set (0 = only check),
   * otherwise the request's (0 = 1). Values beyond {@code Long.MAX_VALUE} saturate.
   */
  static long hits(RateLimitRequest request, RateLimitDescriptor descriptor) {
    if (descriptor.hasHitsAddend()) {
      long hits = descriptor.getHitsAddend().getValue();
      return hits < 0 ? Long.MAX_VALUE : hits;
    }
    int hits = request.getHitsAddend();
    return hits == 0 ? 1 : Integer.toUnsignedLong(hits);
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

  /** Forgets the descriptors whose rule another matched rule of the request {@code replaces}. */
  private static void dropReplaced(Evaluation[] evaluations) {
    Set<String> replaced = null;
    for (Evaluation e : evaluations) {
      if (e != null && e.rule != null && !e.rule.replaces().isEmpty()) {
        if (replaced == null) {
          replaced = new HashSet<>();
        }
        replaced.addAll(e.rule.replaces());
      }
    }
    if (replaced == null) {
      return;
    }
    for (int i = 0; i < evaluations.length; i++) {
      if (evaluations[i] != null && evaluations[i].rule != null && replaced.contains(evaluations[i].rule.name())) {
        evaluations[i] = null;
      }
    }
  }

  /** One descriptor's rule, counter key, hits and limit, then its verdict; or the error that kept it from them. */
  private static final class Evaluation {
    final RateLimitRule rule;
    final byte[] key;
    final long hits;
    final long limit;
    /** Why the descriptor could not be evaluated (then nothing else is set). */
    RuntimeException error;
    Verdict verdict;
    StoreException failure;

    Evaluation(RateLimitRule rule, byte[] key, long hits, long limit) {
      this.rule = rule;
      this.key = key;
      this.hits = hits;
      this.limit = limit;
    }

    static Evaluation failed(RuntimeException error) {
      Evaluation e = new Evaluation(null, null, 0, 0);
      e.error = error;
      return e;
    }
  }
}
