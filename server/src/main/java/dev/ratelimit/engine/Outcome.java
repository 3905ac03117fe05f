package dev.ratelimit.engine;

import java.util.Locale;

/** How one descriptor was decided; the {@code outcome} label of the decision metric. */
public enum Outcome {
  OK,
  OVER_LIMIT,
  /** Over its limit, but the rule is in shadow mode so the request was not rejected. */
  SHADOW_OVER_LIMIT,
  UNLIMITED,
  /** The descriptor matched no rule (or its domain is unknown). */
  NO_RULE,
  /** The store failed; the failure mode decided. */
  STORE_FAILURE,
  /** The descriptor could not be evaluated (an error inside the server); the failure mode decided. */
  DESCRIPTOR_FAILURE;

  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
