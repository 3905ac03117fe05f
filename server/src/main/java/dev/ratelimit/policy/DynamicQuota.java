package dev.ratelimit.policy;

import java.util.Objects;

/**
 * The dynamic-quota part of a {@code dynamic} rule ({@code rate_limit.dynamic}): which descriptor entry names the
 * organisation whose added quota raises the rule's base limit.
 *
 * @param quotaKey the descriptor key whose value is the organisation ({@code quota_key}, default {@code org})
 * @param quotaDepth the position of that entry in a descriptor matching the rule
 */
public record DynamicQuota(String quotaKey, int quotaDepth) {
  public DynamicQuota {
    Objects.requireNonNull(quotaKey, "quotaKey");
    if (quotaDepth < 0) {
      throw new IllegalArgumentException("quota depth must be at least 0");
    }
  }
}
