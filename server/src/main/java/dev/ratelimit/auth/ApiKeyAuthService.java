package dev.ratelimit.auth;

import com.google.rpc.Code;
import com.google.rpc.Status;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext;
import io.envoyproxy.envoy.service.auth.v3.AuthorizationGrpc;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.auth.v3.DeniedHttpResponse;
import io.envoyproxy.envoy.service.auth.v3.OkHttpResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Envoy's {@code envoy.service.auth.v3.Authorization} (ext_authz) as an API-key resolver. The key comes from the
 * request header {@value #API_KEY}:
 * <ul>
 *   <li>a known key: OK, setting {@value #ORG_ID}, {@value #ORG_TIER} and, when the entry has an id,
 *       {@value #API_KEY_ID} (overwriting anything the client sent; an {@value #API_KEY_ID} the entry does not set
 *       is removed). {@value #API_KEY} itself passes through;</li>
 *   <li>no key: OK, removing any client-supplied {@value #ORG_ID}, {@value #ORG_TIER}, {@value #API_KEY_ID} (the
 *       request is limited as keyless, by client address);</li>
 *   <li>an unknown key: denied with 401 and {@code {"error":"invalid API key"}}.</li>
 * </ul>
 * Envoy builds the rate-limit descriptors from those headers afterwards (docs/envoy-istio.md).
 */
public final class ApiKeyAuthService extends AuthorizationGrpc.AuthorizationImplBase {
  public static final String API_KEY = "x-api-key";
  public static final String ORG_ID = "x-org-id";
  public static final String ORG_TIER = "x-org-tier";
  public static final String API_KEY_ID = "x-api-key-id";
  /** The body of a 401. */
  public static final String INVALID_KEY_BODY = "{\"error\":\"invalid API key\"}";

  private static final CheckResponse KEYLESS = CheckResponse.newBuilder()
      .setStatus(Status.newBuilder().setCode(Code.OK_VALUE))
      .setOkResponse(OkHttpResponse.newBuilder().addAllHeadersToRemove(List.of(ORG_ID, ORG_TIER, API_KEY_ID)))
      .build();
  private static final CheckResponse DENIED = CheckResponse.newBuilder()
      .setStatus(Status.newBuilder().setCode(Code.UNAUTHENTICATED_VALUE).setMessage("invalid API key"))
      .setDeniedResponse(DeniedHttpResponse.newBuilder()
          .setStatus(HttpStatus.newBuilder().setCode(StatusCode.Unauthorized))
          .addHeaders(set("content-type", "application/json"))
          .setBody(INVALID_KEY_BODY))
      .build();

  private final Supplier<ApiKeys> keys;
  private final Counter valid;
  private final Counter unknown;
  private final Counter keyless;

  /** @param keys the keys in force, read at every check (a reloaded file applies to the next call) */
  public ApiKeyAuthService(Supplier<ApiKeys> keys, MeterRegistry registry) {
    this.keys = Objects.requireNonNull(keys, "keys");
    this.valid = checks(registry, "valid");
    this.unknown = checks(registry, "unknown");
    this.keyless = checks(registry, "keyless");
  }

  private static Counter checks(MeterRegistry registry, String result) {
    return Counter.builder("ratelimit_auth_checks")
        .description("ext_authz API-key checks by result: valid key, unknown key (401), keyless (no x-api-key)")
        .tag("result", result)
        .register(registry);
  }

  @Override
  public void check(CheckRequest request, StreamObserver<CheckResponse> responses) {
    responses.onNext(decide(request));
    responses.onCompleted();
  }

  /** The answer to one check. */
  CheckResponse decide(CheckRequest request) {
    String key = apiKey(request.getAttributes().getRequest().getHttp());
    if (key == null || key.isEmpty()) {
      keyless.increment();
      return KEYLESS;
    }
    ApiKeys.Entry entry = keys.get().lookup(key);
    if (entry == null) {
      unknown.increment();
      return DENIED;
    }
    valid.increment();
    OkHttpResponse.Builder ok = OkHttpResponse.newBuilder()
        .addHeaders(set(ORG_ID, entry.org()))
        .addHeaders(set(ORG_TIER, entry.tier()));
    if (entry.id() != null) {
      ok.addHeaders(set(API_KEY_ID, entry.id()));
    } else {
      ok.addHeadersToRemove(API_KEY_ID);
    }
    return CheckResponse.newBuilder().setStatus(Status.newBuilder().setCode(Code.OK_VALUE)).setOkResponse(ok).build();
  }

  /**
   * The {@value #API_KEY} header: from {@code headers} (lower-case names), or from {@code header_map} when Envoy sends
   * raw header values ({@code encode_raw_headers}).
   */
  private static String apiKey(AttributeContext.HttpRequest http) {
    String value = http.getHeadersMap().get(API_KEY);
    if (value != null || !http.hasHeaderMap()) {
      return value;
    }
    for (HeaderValue header : http.getHeaderMap().getHeadersList()) {
      if (header.getKey().equalsIgnoreCase(API_KEY)) {
        return header.getRawValue().isEmpty() ? header.getValue() : header.getRawValue().toString(
            StandardCharsets.UTF_8);
      }
    }
    return null;
  }

  private static HeaderValueOption set(String name, String value) {
    return HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey(name).setValue(value))
        .setAppendAction(HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD)
        .build();
  }
}
