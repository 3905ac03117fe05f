package dev.ratelimit.engine;

import java.util.Locale;

/** What the server answers for a descriptor when the store cannot decide (full, closed, unreachable). */
public enum FailureMode {
  /** Answer OK, like Envoy's {@code failure_mode_deny: false}; the default. */
  ALLOW,
  /** Answer OVER_LIMIT. */
  DENY;

  /** Parses {@code allow} or {@code deny}. */
  public static FailureMode parse(String text) {
    return valueOf(text.trim().toUpperCase(Locale.ROOT));
  }
}
