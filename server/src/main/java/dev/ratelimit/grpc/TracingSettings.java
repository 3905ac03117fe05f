package dev.ratelimit.grpc;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Where and how spans are exported ({@code --otlp-endpoint}, docs/operations.md). Tracing is off unless an endpoint is
 * given, by flag or by the standard {@code OTEL_EXPORTER_OTLP_*} variables.
 *
 * @param endpoint the OTLP/HTTP (protobuf) traces URL spans are posted to, e.g. {@code http://collector:4318/v1/traces};
 *     null: tracing off
 * @param serviceName the {@code service.name} resource attribute
 * @param sampleRatio share of traces started here (calls without a sampled parent) that are recorded; a call whose
 *     {@code traceparent} Envoy marked sampled (or not) follows that decision
 * @param headers extra HTTP headers of every export request (e.g. a vendor's API key)
 * @param resourceAttributes more resource attributes (e.g. {@code deployment.environment})
 */
public record TracingSettings(URI endpoint, String serviceName, double sampleRatio, Map<String, String> headers,
    Map<String, String> resourceAttributes) {
  /** The path spans are posted to under a base endpoint, as the OTLP exporter specification says. */
  public static final String TRACES_PATH = "/v1/traces";
  public static final String DEFAULT_SERVICE_NAME = "ratelimit";

  public TracingSettings {
    Objects.requireNonNull(serviceName, "serviceName");
    headers = Map.copyOf(headers);
    resourceAttributes = Map.copyOf(resourceAttributes);
    if (!(sampleRatio >= 0 && sampleRatio <= 1)) {
      throw new IllegalArgumentException("the trace sample ratio must be between 0 and 1, not " + sampleRatio);
    }
    if (endpoint != null && !("http".equals(endpoint.getScheme()) || "https".equals(endpoint.getScheme()))) {
      throw new IllegalArgumentException("the OTLP endpoint must be an http:// or https:// URL, not " + endpoint);
    }
  }

  /** Tracing off. */
  public static TracingSettings off() {
    return new TracingSettings(null, DEFAULT_SERVICE_NAME, 1.0, Map.of(), Map.of());
  }

  /** Whether spans are recorded and exported. */
  public boolean enabled() {
    return endpoint != null;
  }

  /** The same settings exporting to {@code tracesUrl} (used as it is). */
  public TracingSettings withEndpoint(URI tracesUrl) {
    return new TracingSettings(tracesUrl, serviceName, sampleRatio, headers, resourceAttributes);
  }

  /**
   * The settings of the command line and the environment. The endpoint is {@code flagEndpoint} when given (a URL with
   * no path gets {@value #TRACES_PATH}), else {@code OTEL_EXPORTER_OTLP_TRACES_ENDPOINT} (used as it is), else
   * {@code OTEL_EXPORTER_OTLP_ENDPOINT} plus {@value #TRACES_PATH}; {@code OTEL_SDK_DISABLED=true} or
   * {@code OTEL_TRACES_EXPORTER=none} turn tracing off whatever is given. Only the {@code http/protobuf} protocol is
   * spoken: another {@code OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL} is refused rather than exporting nowhere. Export
   * headers and resource attributes come from {@code OTEL_EXPORTER_OTLP_(TRACES_)HEADERS} and
   * {@code OTEL_RESOURCE_ATTRIBUTES} ({@code key=value,...}, values URL-encoded).
   *
   * @throws IllegalArgumentException naming the flag or variable that is wrong
   */
  public static TracingSettings resolve(String flagEndpoint, String serviceName, double sampleRatio,
      Map<String, String> env) {
    URI endpoint = null;
    if (flagEndpoint != null && !flagEndpoint.isBlank()) {
      endpoint = url("--otlp-endpoint", flagEndpoint, true);
    } else if (present(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
      endpoint = url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), false);
    } else if (present(env, "OTEL_EXPORTER_OTLP_ENDPOINT")) {
      URI base = url("OTEL_EXPORTER_OTLP_ENDPOINT", env.get("OTEL_EXPORTER_OTLP_ENDPOINT"), false);
      endpoint = URI.create(base.toString().replaceAll("/+$", "") + TRACES_PATH);
    }
    if ("true".equalsIgnoreCase(env.getOrDefault("OTEL_SDK_DISABLED", "").trim())
        || "none".equalsIgnoreCase(env.getOrDefault("OTEL_TRACES_EXPORTER", "").trim())) {
      endpoint = null;
    }
    String protocolVariable = present(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" : "OTEL_EXPORTER_OTLP_PROTOCOL";
    String protocol = env.getOrDefault(protocolVariable, "http/protobuf").trim();
    if (endpoint != null && !protocol.isEmpty() && !protocol.equals("http/protobuf")) {
      throw new IllegalArgumentException(protocolVariable + " is '" + protocol
          + "': spans are exported over OTLP/HTTP with protobuf only (http/protobuf, usually port 4318)");
    }
    String headerVariable = present(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        ? "OTEL_EXPORTER_OTLP_TRACES_HEADERS" : "OTEL_EXPORTER_OTLP_HEADERS";
    return new TracingSettings(endpoint, serviceName, sampleRatio,
        keyValues(headerVariable, env.getOrDefault(headerVariable, "")),
        keyValues("OTEL_RESOURCE_ATTRIBUTES", env.getOrDefault("OTEL_RESOURCE_ATTRIBUTES", "")));
  }

  private static boolean present(Map<String, String> env, String name) {
    String value = env.get(name);
    return value != null && !value.isBlank();
  }

  private static URI url(String source, String text, boolean addTracesPath) {
    URI uri;
    try {
      uri = new URI(text.trim());
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(source + " must be a URL such as http://otel-collector:4318, not '" + text
          + "'");
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null) {
      throw new IllegalArgumentException(source + " must be an http:// or https:// URL such as "
          + "http://otel-collector:4318, not '" + text + "'");
    }
    boolean noPath = uri.getRawPath() == null || uri.getRawPath().isEmpty() || uri.getRawPath().equals("/");
    return addTracesPath && noPath ? URI.create(text.trim().replaceAll("/+$", "") + TRACES_PATH) : uri;
  }

  /** {@code key=value,key=value} with URL-encoded values, as the OTEL_* variables write them. */
  private static Map<String, String> keyValues(String source, String text) {
    Map<String, String> values = new LinkedHashMap<>();
    for (String pair : text.split(",")) {
      if (pair.isBlank()) {
        continue;
      }
      int eq = pair.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException(source + " must be key=value pairs separated by commas, not '" + pair
            + "'");
      }
      values.put(pair.substring(0, eq).trim(),
          URLDecoder.decode(pair.substring(eq + 1).trim(), StandardCharsets.UTF_8));
    }
    return values;
  }
}
