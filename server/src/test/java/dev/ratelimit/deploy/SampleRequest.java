package dev.ratelimit.deploy;

import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * An HTTP request as the rate-limit filter sees it after the auth step: path, request headers
 * (names lower-cased, as Envoy stores them) and the trusted client address.
 */
record SampleRequest(String path, Map<String, String> headers, String remoteAddress) {
  SampleRequest {
    Map<String, String> lower = new TreeMap<>();
    headers.forEach((name, value) -> lower.put(name.toLowerCase(Locale.ROOT), value));
    headers = Map.copyOf(lower);
  }

  /** A request that the auth step accepted for an API key of organisation {@code org} on plan {@code tier}. */
  static SampleRequest keyed(String path, String apiKey, String org, String tier, String ip) {
    return new SampleRequest(
        path, Map.of("x-api-key", apiKey, "x-org-id", org, "x-org-tier", tier), ip);
  }

  /** A request without an API key: the auth step set no organisation headers. */
  static SampleRequest keyless(String path, String ip) {
    return new SampleRequest(path, Map.of(), ip);
  }

  /** The value of a header, if present. */
  Optional<String> header(String name) {
    return Optional.ofNullable(headers.get(name.toLowerCase(Locale.ROOT)));
  }

  /** The path without its query string, as Envoy's route matching uses it. */
  String pathWithoutQuery() {
    int q = path.indexOf('?');
    return q < 0 ? path : path.substring(0, q);
  }
}
