package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.Gson;
import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.common.mutation_rules.v3.HeaderMutation;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.http.ratelimit.v3.RateLimit;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.fabric8.istio.api.api.networking.v1alpha3.ClientTLSSettingsTLSmode;
import io.fabric8.istio.api.api.networking.v1alpha3.EnvoyFilterApplyTo;
import io.fabric8.istio.api.api.networking.v1alpha3.EnvoyFilterEnvoyConfigObjectMatchListener;
import io.fabric8.istio.api.api.networking.v1alpha3.EnvoyFilterEnvoyConfigObjectMatchRouteConfiguration;
import io.fabric8.istio.api.api.networking.v1alpha3.EnvoyFilterEnvoyConfigObjectPatch;
import io.fabric8.istio.api.api.networking.v1alpha3.EnvoyFilterPatchContext;
import io.fabric8.istio.api.api.networking.v1alpha3.EnvoyFilterPatchOperation;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatchExact;
import io.fabric8.istio.api.networking.v1alpha3.EnvoyFilter;
import io.fabric8.istio.api.networking.v1beta1.DestinationRule;
import io.fabric8.istio.api.networking.v1beta1.VirtualService;
import io.fabric8.istio.api.security.v1beta1.AuthorizationPolicy;
import io.fabric8.kubernetes.api.model.AnyType;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Istio resources in {@code deploy/istio/}: each EnvoyFilter patch value parses into the Envoy
 * type it patches and meets Envoy's validation rules; the gateway and the API's inbound sidecar
 * configure what {@code envoy-config/envoy.yaml} configures (sample requests replayed through the
 * patched inbound route table give envoy.yaml's descriptors); the DestinationRule, AuthorizationPolicies
 * and gateway patches fit the filters.
 */
@Tag("deploy")
class IstioEnvoyFilterTest {
  /** Istio route names (virtualservice.yaml) and the envoy.yaml routes they correspond to. */
  private static final Map<String, String> ROUTES = Map.of("swap-execute", "swap_execute", "tx-submit", "tx_submit");
  /** Istio's inbound route table for an HTTP port P: route configuration "inbound|P||", one route "default". */
  private static final long API_PORT = 8000;
  private static final String INBOUND_CLUSTER = "inbound|" + API_PORT + "||";

  static List<HasMetadata> istio;
  static Bootstrap bootstrap;
  static RouteDescriptors envoyYaml;
  static Map<String, Route> envoyRoutes = new TreeMap<>();

  @BeforeAll
  static void load() throws Exception {
    istio = KubeYaml.readDirectory(Repo.file("deploy/istio"));
    bootstrap = EnvoyBootstrapTest.bootstrap();
    envoyYaml = RouteDescriptors.of(bootstrap);
    RouteDescriptors.httpConnectionManager(bootstrap).getRouteConfig().getVirtualHosts(0).getRoutesList()
        .forEach(r -> envoyRoutes.put(r.getName(), r));
  }

  static EnvoyFilter filter(String name) {
    return KubeYaml.named(istio, EnvoyFilter.class, name);
  }

  @Test
  void gatewayFilterOnTheIngressGatewaySidecarFilterOnTheApiWorkloadsInboundSide() {
    EnvoyFilter gateway = filter("ratelimit-gateway");
    assertEquals("istio-system", gateway.getMetadata().getNamespace());
    assertEquals(Map.of("istio", "ingressgateway"), gateway.getSpec().getWorkloadSelector().getLabels());
    assertEquals(List.of(EnvoyFilterPatchContext.GATEWAY), contexts(gateway));
    EnvoyFilter sidecar = filter("ratelimit-sidecar");
    assertEquals("api", sidecar.getMetadata().getNamespace(), "in the API's namespace, not the mesh root");
    assertEquals(Map.of("app", "api"), sidecar.getSpec().getWorkloadSelector().getLabels());
    assertEquals(List.of(EnvoyFilterPatchContext.SIDECAR_INBOUND), contexts(sidecar));
    assertEquals(2, KubeYaml.all(istio, EnvoyFilter.class).size());
    for (EnvoyFilter filter : KubeYaml.all(istio, EnvoyFilter.class)) {
      assertEquals(List.of(), patches(filter, EnvoyFilterApplyTo.CLUSTER),
          "Istio's own cluster for the Service is used, so the DestinationRule applies");
    }
  }

  @Test
  void rateLimitFilterEqualsEnvoyYamlsAndCallsIstiosClusterForTheService() throws Exception {
    RateLimit expected = EnvoyBootstrapTest.rateLimitFilter(bootstrap);
    for (EnvoyFilter filter : KubeYaml.all(istio, EnvoyFilter.class)) {
      EnvoyFilterEnvoyConfigObjectPatch patch = httpFilter(filter, "envoy.filters.http.ratelimit");
      assertEquals(EnvoyFilterPatchOperation.INSERT_BEFORE, patch.getPatch().getOperation());
      var match = ((EnvoyFilterEnvoyConfigObjectMatchListener) patch.getMatch().getObjectTypes())
          .getListener().getFilterChain().getFilter();
      assertEquals("envoy.filters.network.http_connection_manager", match.getName());
      assertEquals("envoy.filters.http.router", match.getSubFilter().getName());
      HttpFilter http = EnvoyJson.parse(value(patch), HttpFilter.newBuilder());
      assertEquals(List.of(), EnvoyValidation.violations(http));
      RateLimit actual = http.getTypedConfig().unpack(RateLimit.class);
      assertEquals(istioClusterOfTheService(), actual.getRateLimitService().getGrpcService().getEnvoyGrpc().getClusterName());
      RateLimit.Builder sameCluster = actual.toBuilder();
      sameCluster.getRateLimitServiceBuilder().getGrpcServiceBuilder().getEnvoyGrpcBuilder()
          .setClusterName(expected.getRateLimitService().getGrpcService().getEnvoyGrpc().getClusterName());
      assertEquals(expected, sameCluster.build(), filter.getMetadata().getName());
    }
  }

  @Test
  void clientSuppliedOrganisationHeadersAreRemovedFirstAtEveryEntryPoint() throws Exception {
    HttpFilter envoyFilter = RouteDescriptors.httpConnectionManager(bootstrap).getHttpFiltersList().stream()
        .filter(f -> f.getName().equals("envoy.filters.http.header_mutation")).findFirst().orElseThrow();
    List<String> removed = removed(envoyFilter.getTypedConfig().unpack(
        io.envoyproxy.envoy.extensions.filters.http.header_mutation.v3.HeaderMutation.class));
    assertTrue(removed.containsAll(List.of("x-org-id", "x-org-tier", "x-api-key-id")), removed.toString());
    for (EnvoyFilter filter : KubeYaml.all(istio, EnvoyFilter.class)) {
      EnvoyFilterEnvoyConfigObjectPatch patch = httpFilter(filter, "envoy.filters.http.header_mutation");
      assertEquals(EnvoyFilterPatchOperation.INSERT_FIRST, patch.getPatch().getOperation(),
          "before Istio's ext_authz filter, which sets the headers");
      HttpFilter http = EnvoyJson.parse(value(patch), HttpFilter.newBuilder());
      assertEquals(List.of(), EnvoyValidation.violations(http));
      var mutation = http.getTypedConfig().unpack(
          io.envoyproxy.envoy.extensions.filters.http.header_mutation.v3.HeaderMutation.class);
      assertEquals(removed, removed(mutation), filter.getMetadata().getName());
    }
    List<HeaderValue> gatewayAdds = appended(filter("ratelimit-gateway"));
    assertEquals(List.of(HeaderValue.newBuilder().setKey("x-ratelimit-enforced").setValue("gateway").build()), gatewayAdds);
    assertEquals(List.of(), appended(filter("ratelimit-sidecar")));
  }

  @Test
  void gatewayPatchesCarryEnvoyYamlsDescriptorsOnTheVirtualServiceRoutes() throws Exception {
    EnvoyFilter filter = filter("ratelimit-gateway");
    VirtualHost host = EnvoyJson.parse(value(single(filter, EnvoyFilterApplyTo.VIRTUAL_HOST)), VirtualHost.newBuilder());
    host.getRateLimitsList().forEach(r -> assertEquals(List.of(), EnvoyValidation.violations(r)));
    assertEquals(envoyRoutes.get("default").getRoute().getRateLimitsList(), host.getRateLimitsList());
    VirtualService virtualService = KubeYaml.only(istio, VirtualService.class);
    List<EnvoyFilterEnvoyConfigObjectPatch> patches = patches(filter, EnvoyFilterApplyTo.HTTP_ROUTE);
    assertEquals(ROUTES.size(), patches.size());
    for (EnvoyFilterEnvoyConfigObjectPatch patch : patches) {
      String istioName = routeMatch(patch).getVhost().getRoute().getName();
      Route envoyRoute = envoyRoutes.get(ROUTES.get(istioName));
      Route route = EnvoyJson.parse(value(patch), Route.newBuilder());
      route.getRoute().getRateLimitsList().forEach(r -> assertEquals(List.of(), EnvoyValidation.violations(r)));
      assertEquals(envoyRoute.getRoute().getRateLimitsList(), route.getRoute().getRateLimitsList(), istioName);
      var vsRoute = virtualService.getSpec().getHttp().stream()
          .filter(h -> istioName.equals(h.getName())).findFirst().orElseThrow();
      assertEquals(envoyRoute.getMatch().getPath(), ((StringMatchExact) vsRoute.getMatch().get(0).getUri().getMatchType()).getExact(),
          "VirtualService route " + istioName + " must match the same path as envoy.yaml");
    }
  }

  @Test
  void inboundRouteTableWithThePatchesSendsEnvoyYamlsDescriptors() throws Exception {
    RouteDescriptors inbound = RouteDescriptors.of(patchedInboundVirtualHost());
    List<SampleRequest> samples = new ArrayList<>();
    for (String path : List.of("/swap/v1/quote?sellToken=ETH", "/swap/v2/execute", "/swap/v2/execute?slippage=1",
        "/swap/v2/execute/x", "/tx/v1/submit", "/", "/tx/v1/submitted")) {
      samples.add(SampleRequest.keyed(path, "key-1", "acme", "pro", "203.0.113.7"));
      samples.add(SampleRequest.keyless(path, "203.0.113.8"));
    }
    for (SampleRequest request : samples) {
      assertEquals(Descriptors.text(envoyYaml.descriptors(request)), Descriptors.text(inbound.descriptors(request)),
          request.toString());
      assertTrue(!inbound.descriptors(request).isEmpty());
    }
    // Limited at the gateway already: the API's sidecar sends nothing for it.
    SampleRequest viaGateway = new SampleRequest("/swap/v2/execute",
        Map.of("x-ratelimit-enforced", "gateway", "x-org-id", "acme", "x-org-tier", "pro"), "10.0.0.5");
    assertEquals(List.of(), inbound.descriptors(viaGateway));
    assertEquals(INBOUND_CLUSTER, inbound.route(viaGateway).getRoute().getCluster());
    SampleRequest otherMark = new SampleRequest("/", Map.of("x-ratelimit-enforced", "me"), "10.0.0.6");
    assertEquals("default", inbound.route(otherMark).getName());
  }

  @Test
  void onlyTheGatewayMaySendTheMarkAndKeysAreResolvedAtBothEntryPoints() {
    Map<String, Map<String, Object>> policies = new TreeMap<>();
    for (AuthorizationPolicy policy : KubeYaml.all(istio, AuthorizationPolicy.class)) {
      policies.put(policy.getMetadata().getNamespace() + "/" + policy.getMetadata().getName(), tree(policy.getSpec()));
    }
    assertEquals(List.of("api/ratelimit-api-keys", "api/ratelimit-gateway-mark", "istio-system/ratelimit-api-keys-gateway"),
        List.copyOf(policies.keySet()));
    var gatewayKeys = policies.get("istio-system/ratelimit-api-keys-gateway");
    var sidecarKeys = policies.get("api/ratelimit-api-keys");
    for (var policy : List.of(gatewayKeys, sidecarKeys)) {
      assertEquals("CUSTOM", policy.get("action"));
      assertEquals(Map.of("name", "ratelimit-api-keys"), policy.get("provider"));
    }
    assertEquals(Map.of("matchLabels", filter("ratelimit-gateway").getSpec().getWorkloadSelector().getLabels()),
        gatewayKeys.get("selector"));
    assertEquals(Map.of("matchLabels", filter("ratelimit-sidecar").getSpec().getWorkloadSelector().getLabels()),
        sidecarKeys.get("selector"));
    var mark = policies.get("api/ratelimit-gateway-mark");
    assertEquals("DENY", mark.get("action"));
    assertEquals(sidecarKeys.get("selector"), mark.get("selector"));
    @SuppressWarnings("unchecked")
    var rule = ((List<Map<String, Object>>) mark.get("rules")).get(0);
    assertEquals(List.of(Map.of("key", "request.headers[x-ratelimit-enforced]", "values", List.of("*"))),
        rule.get("when"));
    assertTrue(rule.get("from").toString().contains("notPrincipals=[cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account]"),
        rule.toString());
  }

  @Test
  void destinationRuleAppliesToTheFiltersClusterAndTimesOutBeforeTheFilter() throws Exception {
    DestinationRule rule = KubeYaml.only(istio, DestinationRule.class);
    assertEquals(istioClusterOfTheService(), "outbound|" + service().getSpec().getPorts().get(0).getPort() + "||"
        + rule.getSpec().getHost());
    var policy = rule.getSpec().getTrafficPolicy();
    assertEquals(ClientTLSSettingsTLSmode.DISABLE, policy.getTls().getMode(), "the server has no sidecar");
    String connectTimeout = policy.getConnectionPool().getTcp().getConnectTimeout();
    assertTrue(connectTimeout.matches("\\d+ms"), connectTimeout);
    long connectMillis = Long.parseLong(connectTimeout.substring(0, connectTimeout.length() - 2));
    var filterTimeout = EnvoyBootstrapTest.rateLimitFilter(bootstrap).getTimeout();
    assertTrue(connectMillis < filterTimeout.getSeconds() * 1000 + filterTimeout.getNanos() / 1_000_000,
        connectMillis + " ms connect timeout must be below the filter's timeout");
    assertTrue(policy.getConnectionPool().getHttp().getHttp2MaxRequests() > 0);
    assertTrue(policy.getConnectionPool().getTcp().getMaxConnections() > 0);
  }

  @Test
  void gatewayKeepsTheRealClientAddress() throws Exception {
    List<HasMetadata> patches = KubeYaml.readDirectory(Repo.file("deploy/istio/gateway"));
    Service service = KubeYaml.only(patches, Service.class);
    assertEquals("Local", service.getSpec().getExternalTrafficPolicy());
    Deployment gateway = KubeYaml.only(patches, Deployment.class);
    assertEquals(service.getMetadata().getName(), gateway.getMetadata().getName());
    String config = gateway.getSpec().getTemplate().getMetadata().getAnnotations().get("proxy.istio.io/config");
    @SuppressWarnings("unchecked")
    Map<String, Object> topology = (Map<String, Object>) new Gson().fromJson(config, Map.class).get("gatewayTopology");
    assertEquals(Map.of("numTrustedProxies", 0.0), topology, "with externalTrafficPolicy: Local the peer is the client");
  }

  @Test
  void misspeltFieldsAreRejectedInTheResourceAndInsidePatchValues() throws Exception {
    String text = Files.readString(Repo.file("deploy/istio/envoyfilter-gateway.yaml"));
    var resource = assertThrows(IllegalArgumentException.class,
        () -> KubeYaml.read(text.replace("workloadSelector:", "workloadSelectors:")));
    assertTrue(resource.getMessage().contains("workloadSelectors"), resource.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> KubeYaml.read(text.replace("applyTo: VIRTUAL_HOST", "applyTo: VIRTUALHOST")));
    EnvoyFilter typo = (EnvoyFilter) KubeYaml.read(text.replace("failure_mode_deny:", "failure_mode_denny:")).get(0);
    assertThrows(InvalidProtocolBufferException.class, () -> EnvoyJson.parse(
        value(httpFilter(typo, "envoy.filters.http.ratelimit")), HttpFilter.newBuilder()));
    String sidecar = Files.readString(Repo.file("deploy/istio/envoyfilter-sidecar.yaml"));
    EnvoyFilter routeTypo = (EnvoyFilter) KubeYaml.read(sidecar.replace("string_match:", "string_matcher:")).get(0);
    assertThrows(InvalidProtocolBufferException.class, () -> patchedInboundVirtualHost(routeTypo));
    String rules = Files.readString(Repo.file("deploy/istio/destinationrule.yaml"));
    assertThrows(IllegalArgumentException.class, () -> KubeYaml.read(rules.replace("connectTimeout:", "connectTimout:")));
  }

  /** Istio's inbound virtual host for the API port, with the sidecar filter's HTTP_ROUTE patches applied in order. */
  static VirtualHost patchedInboundVirtualHost() throws InvalidProtocolBufferException {
    return patchedInboundVirtualHost(filter("ratelimit-sidecar"));
  }

  private static VirtualHost patchedInboundVirtualHost(EnvoyFilter filter) throws InvalidProtocolBufferException {
    List<Route> routes = new ArrayList<>(List.of(Route.newBuilder().setName("default")
        .setMatch(RouteMatch.newBuilder().setPrefix("/"))
        .setRoute(RouteAction.newBuilder().setCluster(INBOUND_CLUSTER)
            .setTimeout(com.google.protobuf.Duration.getDefaultInstance())).build()));
    for (EnvoyFilterEnvoyConfigObjectPatch patch : patches(filter, EnvoyFilterApplyTo.HTTP_ROUTE)) {
      var match = routeMatch(patch);
      assertEquals(API_PORT, match.getPortNumber());
      String target = match.getVhost().getRoute().getName();
      int at = indexOf(routes, target);
      Route value = EnvoyJson.parse(value(patch), Route.newBuilder()); // a MERGE value is partial: checked merged
      switch (patch.getPatch().getOperation()) {
        case MERGE -> routes.set(at, routes.get(at).toBuilder().mergeFrom(value).build());
        case INSERT_BEFORE -> {
          assertEquals(INBOUND_CLUSTER, value.getRoute().getCluster(), value.getName());
          routes.add(at, value);
        }
        default -> throw new AssertionError("operation not modelled: " + patch.getPatch().getOperation());
      }
    }
    VirtualHost host = VirtualHost.newBuilder().setName("inbound|http|" + API_PORT).addDomains("*").addAllRoutes(routes).build();
    assertEquals(List.of(), EnvoyValidation.violations(host));
    return host;
  }

  private static int indexOf(List<Route> routes, String name) {
    for (int i = 0; i < routes.size(); i++) {
      if (routes.get(i).getName().equals(name)) {
        return i;
      }
    }
    throw new AssertionError("no route " + name + " in Istio's inbound route table");
  }

  private static String istioClusterOfTheService() throws Exception {
    Service service = service();
    return "outbound|" + service.getSpec().getPorts().get(0).getPort() + "||" + service.getMetadata().getName()
        + ".ratelimit.svc.cluster.local";
  }

  private static Service service() throws Exception {
    Service service = KubeYaml.only(KubeYaml.read(Files.readString(Repo.file("deploy/base/service.yaml"))), Service.class);
    assertTrue(Files.readString(Repo.file("deploy/base/kustomization.yaml")).contains("\nnamespace: ratelimit\n"));
    return service;
  }

  private static List<String> removed(io.envoyproxy.envoy.extensions.filters.http.header_mutation.v3.HeaderMutation m) {
    return m.getMutations().getRequestMutationsList().stream()
        .filter(HeaderMutation::hasRemove).map(HeaderMutation::getRemove).toList();
  }

  private static List<HeaderValue> appended(EnvoyFilter filter) throws Exception {
    HttpFilter http = EnvoyJson.parse(value(httpFilter(filter, "envoy.filters.http.header_mutation")), HttpFilter.newBuilder());
    return http.getTypedConfig().unpack(io.envoyproxy.envoy.extensions.filters.http.header_mutation.v3.HeaderMutation.class)
        .getMutations().getRequestMutationsList().stream()
        .filter(HeaderMutation::hasAppend).map(m -> m.getAppend().getHeader()).toList();
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> tree(Object spec) {
    Gson gson = new Gson();
    return gson.fromJson(gson.toJson(new com.fasterxml.jackson.databind.ObjectMapper().convertValue(spec, Map.class)), Map.class);
  }

  private static EnvoyFilterEnvoyConfigObjectPatch httpFilter(EnvoyFilter filter, String name) {
    List<EnvoyFilterEnvoyConfigObjectPatch> found = patches(filter, EnvoyFilterApplyTo.HTTP_FILTER).stream()
        .filter(p -> value(p) instanceof Map<?, ?> m && name.equals(m.get("name"))).toList();
    assertEquals(1, found.size(), name + " patches in " + filter.getMetadata().getName());
    return found.get(0);
  }

  private static io.fabric8.istio.api.api.networking.v1alpha3.EnvoyFilterRouteConfigurationMatch routeMatch(
      EnvoyFilterEnvoyConfigObjectPatch patch) {
    return ((EnvoyFilterEnvoyConfigObjectMatchRouteConfiguration) patch.getMatch().getObjectTypes()).getRouteConfiguration();
  }

  /** The patch value as loaded from YAML (fabric8 wraps it in a RawExtension). */
  private static Object value(EnvoyFilterEnvoyConfigObjectPatch patch) {
    Object value = patch.getPatch().getValue();
    return value instanceof AnyType any ? any.getValue() : value;
  }

  private static List<EnvoyFilterPatchContext> contexts(EnvoyFilter filter) {
    return filter.getSpec().getConfigPatches().stream().map(p -> p.getMatch().getContext()).distinct().toList();
  }

  private static List<EnvoyFilterEnvoyConfigObjectPatch> patches(EnvoyFilter filter, EnvoyFilterApplyTo applyTo) {
    return filter.getSpec().getConfigPatches().stream().filter(p -> p.getApplyTo() == applyTo).toList();
  }

  private static EnvoyFilterEnvoyConfigObjectPatch single(EnvoyFilter filter, EnvoyFilterApplyTo applyTo) {
    List<EnvoyFilterEnvoyConfigObjectPatch> found = patches(filter, applyTo);
    assertEquals(1, found.size(), applyTo + " patches in " + filter.getMetadata().getName());
    return found.get(0);
  }
}
