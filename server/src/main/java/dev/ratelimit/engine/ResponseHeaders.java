package dev.ratelimit.engine;

import dev.ratelimit.policy.RateLimitRule;
import dev.ratelimit.limiter.Verdict;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import java.util.Locale;
import java.util.Objects;

/**
 * How the one reporting descriptor's state is written into {@code response_headers_to_add} (which descriptor reports
 * is the engine's decision): a {@link Format}, plus {@code retry-after} on an over-limit answer and optionally
 * {@code x-ratelimit-limit}. Header names are lower case, as HTTP/2 requires.
 *
 * @param format the header contract
 * @param retryAfter add {@code retry-after: <seconds until reset, rounded up, at least 1>} when the reporting
 *     descriptor rejected the request
 * @param limitHeader in {@link Format#X_RATELIMIT}, also add {@code x-ratelimit-limit: <limit>}
 */
public record ResponseHeaders(Format format, boolean retryAfter, boolean limitHeader) {
  public static final String X_REMAINING = "x-ratelimit-remaining";
  public static final String X_CURRENT = "x-ratelimit-current";
  public static final String X_RESET = "x-ratelimit-reset";
  public static final String X_LIMIT = "x-ratelimit-limit";
  public static final String IETF_POLICY = "ratelimit-policy";
  public static final String IETF_RATELIMIT = "ratelimit";
  public static final String RETRY_AFTER = "retry-after";

  public ResponseHeaders {
    Objects.requireNonNull(format, "format");
  }

  /** Today's contract: the three {@code x-ratelimit-*} headers, {@code retry-after} when over the limit. */
  public static ResponseHeaders defaults() {
    return new ResponseHeaders(Format.X_RATELIMIT, true, false);
  }

  /** The header contracts a deployment can choose ({@code --response-headers}). */
  public enum Format {
    /**
     * {@code x-ratelimit-remaining} ({@code limit - current}, signed), {@code x-ratelimit-current}, {@code
     * x-ratelimit-reset} (absolute Unix seconds).
     */
    X_RATELIMIT("x-ratelimit") {
      @Override
      void write(RateLimitResponse.Builder r, ResponseHeaders options, RateLimitRule rule, Verdict v, long now) {
        r.addResponseHeadersToAdd(SMALL_REMAINING.header(v.remaining()));
        r.addResponseHeadersToAdd(SMALL_CURRENT.header(v.current()));
        r.addResponseHeadersToAdd(LAST_RESET.header(v.resetEpochSeconds()));
        if (options.limitHeader()) {
          r.addResponseHeadersToAdd(header(X_LIMIT, Long.toString(v.limit())));
        }
      }
    },
    /**
     * draft-ietf-httpapi-ratelimit-headers-11: {@code ratelimit-policy: "<name>";q=<limit>;w=<window s>} and {@code
     * ratelimit: "<name>";r=<remaining, at least 0>;t=<seconds until reset>}.
     */
    IETF("ietf") {
      @Override
      void write(RateLimitResponse.Builder r, ResponseHeaders options, RateLimitRule rule, Verdict v, long now) {
        String name = sfString(rule.name());
        r.addResponseHeadersToAdd(header(IETF_POLICY,
            name + ";q=" + v.limit() + ";w=" + windowSeconds(rule)));
        r.addResponseHeadersToAdd(header(IETF_RATELIMIT,
            name + ";r=" + Math.max(0, v.remaining()) + ";t=" + v.secondsUntilReset(now)));
      }
    },
    /**
     * What Envoy's own {@code DRAFT_VERSION_03} emits: {@code x-ratelimit-limit: <limit>, <limit>;w=<window s>},
     * {@code x-ratelimit-remaining} (at least 0) and {@code x-ratelimit-reset} in seconds until reset.
     */
    DRAFT03("draft03") {
      @Override
      void write(RateLimitResponse.Builder r, ResponseHeaders options, RateLimitRule rule, Verdict v, long now) {
        r.addResponseHeadersToAdd(header(X_LIMIT, v.limit() + ", " + v.limit() + ";w=" + windowSeconds(rule)));
        r.addResponseHeadersToAdd(header(X_REMAINING, Long.toString(Math.max(0, v.remaining()))));
        r.addResponseHeadersToAdd(header(X_RESET, Long.toString(v.secondsUntilReset(now))));
      }
    },
    /** No rate-limit headers (a {@code retry-after} may still be sent). */
    NONE("none") {
      @Override
      void write(RateLimitResponse.Builder r, ResponseHeaders options, RateLimitRule rule, Verdict v, long now) {
      }
    };

    private final String flag;

    Format(String flag) {
      this.flag = flag;
    }

    /** The name on the command line. */
    public String flag() {
      return flag;
    }

    /** The format named {@code text} ({@code x-ratelimit}, {@code ietf}, {@code draft03}, {@code none}), or null. */
    public static Format parse(String text) {
      String wanted = text.trim().toLowerCase(Locale.ROOT);
      for (Format f : values()) {
        if (f.flag.equals(wanted)) {
          return f;
        }
      }
      return null;
    }

    abstract void write(RateLimitResponse.Builder r, ResponseHeaders options, RateLimitRule rule, Verdict v,
        long nowMillis);
  }

  /**
   * Adds the headers of {@code reporter}'s decision to {@code response}.
   *
   * @param rule the reporting descriptor's rule (its name and window)
   * @param verdict its decision
   * @param nowMillis the decision's time
   */
  public void write(RateLimitResponse.Builder response, RateLimitRule rule, Verdict verdict, long nowMillis) {
    format.write(response, this, rule, verdict, nowMillis);
    if (retryAfter && verdict.overLimit()) {
      response.addResponseHeadersToAdd(SMALL_RETRY_AFTER.header(Math.max(1, verdict.secondsUntilReset(nowMillis))));
    }
  }

  private static long windowSeconds(RateLimitRule rule) {
    return Math.max(1, (rule.window().toMillis() + 999) / 1000);
  }

  /** A structured-field string (RFC 8941 §3.3.3): quoted, {@code \} and {@code "} escaped, non-ASCII as {@code ?}. */
  static String sfString(String value) {
    StringBuilder s = new StringBuilder(value.length() + 2).append('"');
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (c == '"' || c == '\\') {
        s.append('\\').append(c);
      } else {
        s.append(c >= 0x20 && c < 0x7f ? c : '?');
      }
    }
    return s.append('"').toString();
  }

  private static final NumberHeaders SMALL_REMAINING = new NumberHeaders(X_REMAINING);
  private static final NumberHeaders SMALL_CURRENT = new NumberHeaders(X_CURRENT);
  private static final NumberHeaders SMALL_RETRY_AFTER = new NumberHeaders(RETRY_AFTER);
  private static final LastHeader LAST_RESET = new LastHeader(X_RESET);

  /** One header with a number value, built once for the values 0..1023 (most answers), on demand above. */
  private static final class NumberHeaders {
    private final String name;
    private final HeaderValue[] small = new HeaderValue[1024];

    NumberHeaders(String name) {
      this.name = name;
      for (int i = 0; i < small.length; i++) {
        small[i] = ResponseHeaders.header(name, Integer.toString(i));
      }
    }

    HeaderValue header(long value) {
      return value >= 0 && value < small.length ? small[(int) value] : ResponseHeaders.header(name, Long.toString(value));
    }
  }

  /** One header with a number value that changes slowly (a reset second): the last one built is reused. */
  private static final class LastHeader {
    private record Built(long value, HeaderValue header) {}

    private final String name;
    private volatile Built last = new Built(Long.MIN_VALUE, null);

    LastHeader(String name) {
      this.name = name;
    }

    HeaderValue header(long value) {
      Built built = last;
      if (built.value() != value) {
        built = new Built(value, ResponseHeaders.header(name, Long.toString(value)));
        last = built;
      }
      return built.header();
    }
  }

  private static HeaderValue header(String name, String value) {
    return HeaderValue.newBuilder().setKey(name).setValue(value).build();
  }
}
