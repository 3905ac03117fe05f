package dev.ratelimit.policy;

import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import java.util.Collection;
import java.util.Map;

/**
 * The loaded policy of every domain, and the matcher from a request's descriptor to its rule. Immutable; a reload
 * builds a new index and swaps it in whole.
 */
public final class PolicyIndex {
  private final Map<String, DomainPolicy> domains;

  public PolicyIndex(Map<String, DomainPolicy> domains) {
    this.domains = Map.copyOf(domains);
  }

  /** The policy of a domain, or null when no file declares it. */
  public DomainPolicy domain(String domain) {
    return domains.get(domain);
  }

  public Collection<DomainPolicy> domains() {
    return domains.values();
  }

  /**
   * Walks the domain's tree along the descriptor's entries, as envoyproxy/ratelimit does: the entry reached by the
   * last key/value pair must carry a rule. Returns that entry, or null when the descriptor matches no rule. Allocates
   * nothing.
   */
  public static DescriptorNode match(DomainPolicy domain, RateLimitDescriptor descriptor) {
    DescriptorNode node = domain.root();
    int entries = descriptor.getEntriesCount();
    for (int i = 0; i < entries && node != null; i++) {
      RateLimitDescriptor.Entry entry = descriptor.getEntries(i);
      node = node.child(entry.getKey(), entry.getValue());
    }
    return node == null || node.rule() == null || entries == 0 ? null : node;
  }
}
