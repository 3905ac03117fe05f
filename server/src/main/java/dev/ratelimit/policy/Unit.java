package dev.ratelimit.policy;

import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import java.time.Duration;
import java.util.Locale;

/** The time units of envoyproxy/ratelimit's {@code rate_limit.unit}; month is 30 days, year 365 days. */
public enum Unit {
  SECOND(Duration.ofSeconds(1), RateLimitResponse.RateLimit.Unit.SECOND),
  MINUTE(Duration.ofMinutes(1), RateLimitResponse.RateLimit.Unit.MINUTE),
  HOUR(Duration.ofHours(1), RateLimitResponse.RateLimit.Unit.HOUR),
  DAY(Duration.ofDays(1), RateLimitResponse.RateLimit.Unit.DAY),
  WEEK(Duration.ofDays(7), RateLimitResponse.RateLimit.Unit.WEEK),
  MONTH(Duration.ofDays(30), RateLimitResponse.RateLimit.Unit.MONTH),
  YEAR(Duration.ofDays(365), RateLimitResponse.RateLimit.Unit.YEAR);

  private final Duration length;
  private final RateLimitResponse.RateLimit.Unit proto;

  Unit(Duration length, RateLimitResponse.RateLimit.Unit proto) {
    this.length = length;
    this.proto = proto;
  }

  /** Length of one unit. */
  public Duration length() {
    return length;
  }

  /** The unit as reported to Envoy in {@code DescriptorStatus.current_limit}. */
  public RateLimitResponse.RateLimit.Unit proto() {
    return proto;
  }

  /** Parses a configuration name such as {@code minute}; null when unknown. */
  public static Unit parse(String name) {
    for (Unit unit : values()) {
      if (unit.name().equals(name.toUpperCase(Locale.ROOT))) {
        return unit;
      }
    }
    return null;
  }

  /** Maps Envoy's override unit ({@code envoy.type.v3.RateLimitUnit}); null for UNKNOWN. */
  public static Unit fromEnvoy(io.envoyproxy.envoy.type.v3.RateLimitUnit unit) {
    return switch (unit) {
      case SECOND -> SECOND;
      case MINUTE -> MINUTE;
      case HOUR -> HOUR;
      case DAY -> DAY;
      case MONTH -> MONTH;
      case YEAR -> YEAR;
      default -> null;
    };
  }
}
