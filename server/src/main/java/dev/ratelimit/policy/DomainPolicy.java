package dev.ratelimit.policy;

import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

/** The rules of one domain, as loaded from one file. Immutable. */
public final class DomainPolicy {
  private final String domain;
  private final String source;
  private final DescriptorNode root;
  private final Map<String, RateLimitRule> rulesById;
  private final List<String> warnings;
  private final RejectedRequests rejectedRequests;

  DomainPolicy(String domain, String source, DescriptorNode root, List<RateLimitRule> rules) {
    this(domain, source, root, rules, List.of(), null);
  }

  DomainPolicy(String domain, String source, DescriptorNode root, List<RateLimitRule> rules, List<String> warnings,
      RejectedRequests rejectedRequests) {
    this.warnings = List.copyOf(warnings);
    this.rejectedRequests = rejectedRequests;
    this.domain = domain;
    this.source = source;
    this.root = root;
    this.rulesById = rules.stream().collect(Collectors.toUnmodifiableMap(RateLimitRule::id, Function.identity()));
  }

  public String domain() {
    return domain;
  }

  /** The file (or resource) the domain was loaded from. */
  public String source() {
    return source;
  }

  /** The entries of the domain's top level. */
  public DescriptorNode root() {
    return root;
  }

  /** Suspicious but accepted settings found while loading (also logged), each as {@code file:line: field: why}. */
  public List<String> warnings() {
    return warnings;
  }

  /** What a rejected request leaves in the other descriptors' counters: the domain's setting, else {@code fallback}. */
  public RejectedRequests rejectedRequests(RejectedRequests fallback) {
    return rejectedRequests == null ? fallback : rejectedRequests;
  }

  /** Every rule of the domain by its {@link RateLimitRule#id()}. */
  public Map<String, RateLimitRule> rulesById() {
    return rulesById;
  }
}
