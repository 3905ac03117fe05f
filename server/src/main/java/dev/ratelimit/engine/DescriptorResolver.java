package dev.ratelimit.engine;

import dev.ratelimit.ops.ServiceMetrics;
import dev.ratelimit.policy.DescriptorNode;
import dev.ratelimit.policy.DomainPolicy;
import dev.ratelimit.policy.PolicyIndex;
import dev.ratelimit.policy.PolicyLoader;
import dev.ratelimit.policy.RateLimitRule;
import dev.ratelimit.policy.Unit;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.quota.QuotaBook;
import dev.ratelimit.store.CounterKey;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The first step of a decision: turns each descriptor of a request into what the store must decide, the rule it
 * matched (or Envoy's override), its counter key, its hits and the limit in force. Every decision about what a
 * descriptor counts against is made here: matching, overrides, {@code replaces}, client-address normalisation, key
 * encoding and the dynamic quota. Thread-safe; per-thread buffers keep the hot path free of most allocation.
 */
final class DescriptorResolver {
  private final RequestLimits limits;
  private final ClientAddressPolicy addresses;
  private final QuotaBook quotas;
  private final ServiceMetrics metrics;
  private final ThreadLocal<CounterKey> keys;
  private final ThreadLocal<ClientAddress> parsedAddresses = ThreadLocal.withInitial(ClientAddress::new);
  /** Sliding windows for Envoy's limit overrides, by unit; a rule's counter of the same window is shared. */
  private final Map<Unit, Limiter> overrideLimiters = new EnumMap<>(Unit.class);

  DescriptorResolver(RequestLimits limits, ClientAddressPolicy addresses, QuotaBook quotas, ServiceMetrics metrics) {
    this.limits = Objects.requireNonNull(limits, "limits");
    this.addresses = Objects.requireNonNull(addresses, "addresses");
    this.quotas = Objects.requireNonNull(quotas, "quotas");
    this.metrics = Objects.requireNonNull(metrics, "metrics");
    this.keys = ThreadLocal.withInitial(() -> new CounterKey(limits.maxKeyBytes()));
    for (Unit unit : Unit.values()) {
      overrideLimiters.put(unit,
          new SlidingWindowLimiter(unit.length(), SlidingWindowLimiter.defaultPrecision(unit.length())));
    }
  }

  /**
   * Resolves every descriptor of the request: null for one that matches no rule (or that another matched rule
   * {@code replaces}), a failed evaluation for one that cannot be evaluated (decided alone by the failure mode).
   */
  Evaluation[] resolveAll(RateLimitRequest request, DomainPolicy domain, long now) {
    Evaluation[] evaluations = new Evaluation[request.getDescriptorsCount()];
    for (int i = 0; i < evaluations.length; i++) {
      try {
        evaluations[i] = resolve(request, domain, i, now);
      } catch (RuntimeException e) {
        metrics.descriptorFailure(domain.domain(), i, e);
        evaluations[i] = Evaluation.failed(e);
      }
    }
    dropReplaced(evaluations);
    return evaluations;
  }

  /**
   * Finds the rule, counter key, hits and limit of descriptor {@code index}, or null when it matches no rule. Any
   * value a client sends resolves: a key too long for the store is counted under its digest.
   *
   * @throws RuntimeException when the descriptor cannot be evaluated; the caller decides it by the failure mode
   */
  Evaluation resolve(RateLimitRequest request, DomainPolicy domain, int index, long now) {
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
    String name = matched == null ? "override_" + unit.name().toLowerCase(Locale.ROOT) : matched.name();
    return RateLimitRule.builder("override/" + unit).name(name).unit(unit).limiter(overrideLimiters.get(unit)).build();
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

  /** The limit in force: the rule's (or override's), plus the organisation's added quota for a dynamic rule. */
  private long limitOf(long limit, String quotaOrg, long now) {
    if (quotaOrg == null) {
      return limit;
    }
    // Changes only at 10-minute boundaries (docs/algorithms.md, dynamic quota).
    return Math.min(limit + quotas.added(quotaOrg, now), PolicyLoader.MAX_LIMIT);
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

}
