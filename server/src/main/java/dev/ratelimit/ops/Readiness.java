package dev.ratelimit.ops;

import java.util.Objects;

/**
 * Whether the server should receive traffic, for {@code /readyz}.
 *
 * @param ready the policy is loaded, the store is open and the server is not draining
 * @param detail a short human-readable reason ({@code "ready"}, {@code "draining"}, ...)
 */
public record Readiness(boolean ready, String detail) {
  public Readiness {
    Objects.requireNonNull(detail, "detail");
  }
}
