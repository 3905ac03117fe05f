package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Duration;
import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.ApiVersion;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz;
import io.envoyproxy.envoy.extensions.filters.http.ratelimit.v3.RateLimit;
import io.envoyproxy.envoy.type.v3.StatusCode;
import io.envoyproxy.envoy.extensions.filters.http.ratelimit.v3.RateLimit.XRateLimitHeadersRFCVersion;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/** {@code envoy-config/envoy.yaml} is a valid Envoy v3 bootstrap wired to our server as documented. */
@Tag("deploy")
class EnvoyBootstrapTest {
  static final String ENVOY_YAML = "envoy-config/envoy.yaml";

  static Bootstrap bootstrap() throws Exception {
    return EnvoyJson.bootstrap(Repo.file(ENVOY_YAML));
  }

  static RateLimit rateLimitFilter(Bootstrap bootstrap) throws Exception {
    HttpFilter filter = RouteDescriptors.httpConnectionManager(bootstrap).getHttpFiltersList().stream()
        .filter(f -> f.getName().equals("envoy.filters.http.ratelimit"))
        .findFirst().orElseThrow();
    return filter.getTypedConfig().unpack(RateLimit.class);
  }

  @Test
  void parsesIntoBootstrapWithUnknownFieldsRejected() throws Exception {
    Bootstrap bootstrap = bootstrap();
    assertEquals(1, bootstrap.getStaticResources().getListenersCount());
    assertEquals(List.of("ratelimit", "api_backend"),
        bootstrap.getStaticResources().getClustersList().stream().map(Cluster::getName).toList());
  }

  @Test
  void satisfiesEnvoysOwnValidationRules() throws Exception {
    assertEquals(List.of(), EnvoyValidation.violations(bootstrap()));
  }

  @Test
  void validationRulesCatchWhatTheJsonMappingAccepts() throws Exception {
    String text = Files.readString(Repo.file(ENVOY_YAML));
    Bootstrap broken = EnvoyJson.parse(EnvoyJson.loadYaml(text
            .replace("descriptor_value: execute}", "descriptor_value: \"\"}")
            .replace("interval: 5s", "interval: 0s")
            .replace("headers: [{name: x-org-id, present_match: true}]", "headers: []")),
        Bootstrap.newBuilder());
    List<String> violations = EnvoyValidation.violations(broken);
    assertTrue(violations.stream().anyMatch(v -> v.endsWith("generic_key.descriptor_value: at least 1 character(s)")), violations.toString());
    assertTrue(violations.stream().anyMatch(v -> v.contains("health_checks[0].interval: 0 out of range")), violations.toString());
    assertTrue(violations.stream().anyMatch(v -> v.endsWith("header_value_match.headers: at least 1 item(s) required")), violations.toString());
  }

  @Test
  void misspeltFieldIsRejected() throws Exception {
    String text = Files.readString(Repo.file(ENVOY_YAML));
    String typo = text.replace("failure_mode_deny: false", "failure_mode_denny: false");
    assertFalse(text.equals(typo), "the replaced text must exist in envoy.yaml");
    var e = assertThrows(InvalidProtocolBufferException.class,
        () -> EnvoyJson.parse(EnvoyJson.loadYaml(typo), Bootstrap.newBuilder()));
    assertTrue(e.getMessage().contains("failure_mode_denny"), e.getMessage());
  }

  @Test
  void wrongEnumValueAndUnregisteredTypeAreRejected() {
    assertThrows(InvalidProtocolBufferException.class, () -> EnvoyJson.parse(
        EnvoyJson.loadYaml("enable_x_ratelimit_headers: DRAFT_VERSION_99"), RateLimit.newBuilder()));
    assertThrows(InvalidProtocolBufferException.class, () -> EnvoyJson.parse(
        EnvoyJson.loadYaml("name: x\ntyped_config: {'@type': type.googleapis.com/envoy.Nope}"),
        HttpFilter.newBuilder()));
  }

  @Test
  void rateLimitFilterTalksToOurServerAndFailsOpen() throws Exception {
    Bootstrap bootstrap = bootstrap();
    RateLimit filter = rateLimitFilter(bootstrap);
    Map<String, Object> policy = new Yaml().load(Files.readString(Repo.file("envoy-config/ratelimit/api.yaml")));
    assertEquals(policy.get("domain"), filter.getDomain());
    assertFalse(filter.getFailureModeDeny());
    assertEquals(Duration.newBuilder().setNanos(50_000_000).build(), filter.getTimeout());
    assertEquals(XRateLimitHeadersRFCVersion.OFF, filter.getEnableXRatelimitHeaders(),
        "Envoy's own x-ratelimit-* headers would overwrite the ones our server sends");
    assertEquals(ApiVersion.V3, filter.getRateLimitService().getTransportApiVersion());
    assertEquals("ratelimit", filter.getRateLimitService().getGrpcService().getEnvoyGrpc().getClusterName());
  }

  @Test
  void extAuthzResolvesApiKeysOnOurServerAndFailsClosed() throws Exception {
    HttpFilter filter = RouteDescriptors.httpConnectionManager(bootstrap()).getHttpFiltersList().stream()
        .filter(f -> f.getName().equals("envoy.filters.http.ext_authz")).findFirst().orElseThrow();
    ExtAuthz authz = filter.getTypedConfig().unpack(ExtAuthz.class);
    assertEquals(rateLimitFilter(bootstrap()).getRateLimitService().getGrpcService().getEnvoyGrpc().getClusterName(),
        authz.getGrpcService().getEnvoyGrpc().getClusterName(), "the same server and port as the rate-limit service");
    assertFalse(authz.getFailureModeAllow(), "auth unreachable must not hand out plans");
    assertEquals(StatusCode.ServiceUnavailable, authz.getStatusOnError().getCode());
    assertEquals(ApiVersion.V3, authz.getTransportApiVersion());
    long timeoutMillis = authz.getGrpcService().getTimeout().getSeconds() * 1000
        + authz.getGrpcService().getTimeout().getNanos() / 1_000_000;
    assertTrue(timeoutMillis > 0 && timeoutMillis <= 250, timeoutMillis + " ms");
    assertFalse(authz.getWithRequestBody().isInitialized() && authz.hasWithRequestBody(), "keys are headers; no body buffering");
    var removed = RouteDescriptors.httpConnectionManager(bootstrap()).getHttpFiltersList().get(0).getTypedConfig()
        .unpack(io.envoyproxy.envoy.extensions.filters.http.header_mutation.v3.HeaderMutation.class)
        .getMutations().getRequestMutationsList().stream().map(m -> m.getRemove()).toList();
    assertEquals(List.of("x-org-id", "x-org-tier", "x-api-key-id"), removed,
        "client copies of every header the auth step sets are dropped before it");
  }

  @Test
  void filtersRunAuthBeforeRateLimitAndRouterLast() throws Exception {
    List<String> names = RouteDescriptors.httpConnectionManager(bootstrap()).getHttpFiltersList().stream()
        .map(HttpFilter::getName).toList();
    assertEquals(List.of("envoy.filters.http.header_mutation", "envoy.filters.http.ext_authz",
        "envoy.filters.http.ratelimit", "envoy.filters.http.router"), names);
  }

  @Test
  void rateLimitClusterSpeaksHttp2AndIsHealthCheckedOverGrpc() throws Exception {
    Cluster cluster = bootstrap().getStaticResources().getClustersList().stream()
        .filter(c -> c.getName().equals("ratelimit")).findFirst().orElseThrow();
    HttpProtocolOptions options = cluster.getTypedExtensionProtocolOptionsOrThrow(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions").unpack(HttpProtocolOptions.class);
    assertTrue(options.getExplicitHttpConfig().hasHttp2ProtocolOptions());
    assertTrue(cluster.getHealthChecks(0).hasGrpcHealthCheck());
    assertEquals(8081, cluster.getLoadAssignment().getEndpoints(0).getLbEndpoints(0)
        .getEndpoint().getAddress().getSocketAddress().getPortValue());
  }
}
