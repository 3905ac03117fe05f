package dev.ratelimit.policy;

import java.util.Locale;

/** The counting algorithm of a rule ({@code rate_limit.algorithm}). */
public enum Algorithm {
  SLIDING_WINDOW,
  FIXED_WINDOW,
  TOKEN_BUCKET,
  DYNAMIC;

  /** The name used in configuration files. */
  public String configName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses a configuration name such as {@code sliding_window}; null when unknown. */
  public static Algorithm parse(String name) {
    for (Algorithm algorithm : values()) {
      if (algorithm.configName().equals(name)) {
        return algorithm;
      }
    }
    return null;
  }
}
