package dev.ratelimit.policy;

import java.util.Locale;

/**
 * What a rejected request leaves in the counters of its descriptors that were within their limits: a domain's
 * {@code rejected_requests} setting, or the server's {@code --rejected-requests} default.
 */
public enum RejectedRequests {
  /**
   * A rejected request counts nowhere (the default): when any enforcing descriptor rejects it, the hits its other
   * descriptors admitted are taken back, so a client blocked by a firewall rule does not drain its organisation's plan.
   * envoyproxy/ratelimit's {@code STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT}.
   */
  COUNT_NOWHERE,
  /** envoyproxy/ratelimit's default: every descriptor within its limit counts the request, even when another rejects. */
  COUNT_WITHIN_LIMIT;

  /** The configuration spelling: {@code count_nowhere}, {@code count_within_limit}. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses a configuration spelling; null when it is none. */
  public static RejectedRequests parse(String text) {
    for (RejectedRequests value : values()) {
      if (value.label().equals(text == null ? null : text.trim().toLowerCase(Locale.ROOT))) {
        return value;
      }
    }
    return null;
  }
}
