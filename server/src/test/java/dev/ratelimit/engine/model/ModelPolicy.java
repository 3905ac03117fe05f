package dev.ratelimit.engine.model;

/**
 * The policy of domain under test: four 60 s sliding windows at the default precision (60 slots of 1 s), one of them
 * in shadow mode, with limits that reloads change, and what a rejected request leaves behind.
 *
 * @param k limit of the value-less rule {@code k} (one counter per value)
 * @param kc limit of {@code k}'s value-less child {@code c}
 * @param k2 limit of {@code k2}
 * @param shadow limit of the shadow-mode rule {@code s}
 * @param countWithinLimit {@code rejected_requests: count_within_limit} (else {@code count_nowhere}, the default)
 */
public record ModelPolicy(long k, long kc, long k2, long shadow, boolean countWithinLimit) {

  /** The starting limits (as in issue 12): {@code k} 5/min, {@code k2} 3/min. */
  public static ModelPolicy initial(boolean countWithinLimit) {
    return new ModelPolicy(5, 4, 3, 2, countWithinLimit);
  }

  /** The limit of a descriptor's rule, or -1 when it matches none. */
  public long limitOf(ModelAction.Kind kind) {
    return switch (kind) {
      case K -> k;
      case KC -> kc;
      case K2 -> k2;
      case S -> shadow;
      case NONE -> -1;
    };
  }

  /** The policy file of {@code domain}. */
  public String yaml(String domain) {
    return """
        domain: %s
        rejected_requests: %s
        descriptors:
          - key: k
            rate_limit: {unit: minute, requests_per_unit: %d}
            descriptors:
              - key: c
                rate_limit: {unit: minute, requests_per_unit: %d}
          - key: k2
            rate_limit: {unit: minute, requests_per_unit: %d}
          - key: s
            shadow_mode: true
            rate_limit: {unit: minute, requests_per_unit: %d}
        """.formatted(domain, countWithinLimit ? "count_within_limit" : "count_nowhere", k, kc, k2, shadow);
  }

  @Override
  public String toString() {
    return "k=" + k + " kc=" + kc + " k2=" + k2 + " s=" + shadow + (countWithinLimit ? " count_within_limit" : "");
  }
}
