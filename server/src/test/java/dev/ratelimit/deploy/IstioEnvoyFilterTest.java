package dev.ratelimit.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.route.v3.RateLimit;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.fabric8.istio.api.api.networking.v1alpha3.EnvoyFilterApplyTo;
import io.fabric8.istio.api.api.networking.v1alpha3.EnvoyFilterEnvoyConfigObjectMatchListener;
import io.fabric8.istio.api.api.networking.v1alpha3.EnvoyFilterEnvoyConfigObjectMatchRouteConfiguration;
import io.fabric8.istio.api.api.networking.v1alpha3.EnvoyFilterEnvoyConfigObjectPatch;
import io.fabric8.istio.api.api.networking.v1alpha3.EnvoyFilterPatchContext;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatchExact;
import io.fabric8.istio.api.networking.v1alpha3.EnvoyFilter;
import io.fabric8.istio.api.networking.v1beta1.VirtualService;
import io.fabric8.kubernetes.api.model.AnyType;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Istio resources in {@code deploy/istio/}: each EnvoyFilter patch value parses into the Envoy
 * type it patches, and the gateway and sidecar patches configure exactly what
 * {@code envoy-config/envoy.yaml} configures (which the end-to-end test exercises).
 */
class IstioEnvoyFilterTest {
  /** Istio route names (virtualservice.yaml) and the envoy.yaml routes they correspond to. */
  private static final Map<String, String> ROUTES = Map.of("swap-execute", "swap_execute", "tx-submit", "tx_submit");

  static List<HasMetadata> istio;
  static Bootstrap bootstrap;
  static Map<String, Route> envoyRoutes = new TreeMap<>();

  @BeforeAll
  static void load() throws Exception {
    istio = KubeYaml.readDirectory(Repo.file("deploy/istio"));
    bootstrap = EnvoyBootstrapTest.bootstrap();
    RouteDescriptors.httpConnectionManager(bootstrap).getRouteConfig().getVirtualHosts(0).getRoutesList()
        .forEach(r -> envoyRoutes.put(r.getName(), r));
  }

  static List<EnvoyFilter> envoyFilters() {
    return istio.stream().filter(EnvoyFilter.class::isInstance).map(EnvoyFilter.class::cast).toList();
  }

  @Test
  void gatewayAndSidecarFiltersExist() {
    assertEquals(Map.of("ratelimit-gateway", List.of(EnvoyFilterPatchContext.GATEWAY),
            "ratelimit-sidecar", List.of(EnvoyFilterPatchContext.SIDECAR_OUTBOUND)),
        Map.of(envoyFilters().get(0).getMetadata().getName(), contexts(envoyFilters().get(0)),
            envoyFilters().get(1).getMetadata().getName(), contexts(envoyFilters().get(1))));
  }

  @Test
  void filterPatchEqualsTheFilterOfEnvoyYaml() throws Exception {
    var expected = EnvoyBootstrapTest.rateLimitFilter(bootstrap);
    for (EnvoyFilter filter : envoyFilters()) {
      HttpFilter http = EnvoyJson.parse(value(single(filter, EnvoyFilterApplyTo.HTTP_FILTER)),
          HttpFilter.newBuilder());
      assertEquals(List.of(), EnvoyValidation.violations(http));
      assertEquals("envoy.filters.http.ratelimit", http.getName());
      assertEquals(expected, http.getTypedConfig().unpack(
          io.envoyproxy.envoy.extensions.filters.http.ratelimit.v3.RateLimit.class), filter.getMetadata().getName());
      var match = ((EnvoyFilterEnvoyConfigObjectMatchListener) single(filter, EnvoyFilterApplyTo.HTTP_FILTER).getMatch()
          .getObjectTypes()).getListener().getFilterChain().getFilter();
      assertEquals("envoy.filters.network.http_connection_manager", match.getName());
      assertEquals("envoy.filters.http.router", match.getSubFilter().getName());
    }
  }

  @Test
  void clusterPatchPointsAtTheServiceOverHttp2() throws Exception {
    Service service = KubeYaml.only(KubeYaml.readDirectory(Repo.file("deploy")), Service.class);
    String host = service.getMetadata().getName() + "." + service.getMetadata().getNamespace() + ".svc.cluster.local";
    for (EnvoyFilter filter : envoyFilters()) {
      Cluster cluster = EnvoyJson.parse(value(single(filter, EnvoyFilterApplyTo.CLUSTER)),
          Cluster.newBuilder());
      assertEquals(List.of(), EnvoyValidation.violations(cluster));
      assertEquals("ratelimit", cluster.getName(), "the filter's grpc_service names this cluster");
      SocketAddress address = cluster.getLoadAssignment().getEndpoints(0).getLbEndpoints(0)
          .getEndpoint().getAddress().getSocketAddress();
      assertEquals(host, address.getAddress());
      assertEquals(service.getSpec().getPorts().get(0).getPort(), address.getPortValue());
      assertTrue(cluster.getTypedExtensionProtocolOptionsOrThrow("envoy.extensions.upstreams.http.v3.HttpProtocolOptions")
          .unpack(HttpProtocolOptions.class).getExplicitHttpConfig().hasHttp2ProtocolOptions());
    }
  }

  @Test
  void virtualHostPatchCarriesTheDefaultRoutesDescriptors() throws Exception {
    for (EnvoyFilter filter : envoyFilters()) {
      VirtualHost host = EnvoyJson.parse(value(single(filter, EnvoyFilterApplyTo.VIRTUAL_HOST)),
          VirtualHost.newBuilder());
      host.getRateLimitsList().forEach(r -> assertEquals(List.of(), EnvoyValidation.violations(r)));
      assertEquals(envoyRoutes.get("default").getRoute().getRateLimitsList(), host.getRateLimitsList(),
          filter.getMetadata().getName());
    }
  }

  @Test
  void routePatchesCarryTheDedicatedRoutesDescriptors() throws Exception {
    VirtualService virtualService = KubeYaml.only(istio, VirtualService.class);
    for (EnvoyFilter filter : envoyFilters()) {
      List<EnvoyFilterEnvoyConfigObjectPatch> patches = patches(filter, EnvoyFilterApplyTo.HTTP_ROUTE);
      assertEquals(ROUTES.size(), patches.size());
      for (EnvoyFilterEnvoyConfigObjectPatch patch : patches) {
        String istioName = ((EnvoyFilterEnvoyConfigObjectMatchRouteConfiguration) patch.getMatch().getObjectTypes())
            .getRouteConfiguration().getVhost().getRoute().getName();
        Route envoyRoute = envoyRoutes.get(ROUTES.get(istioName));
        Route route = EnvoyJson.parse(value(patch), Route.newBuilder());
        route.getRoute().getRateLimitsList().forEach(r -> assertEquals(List.of(), EnvoyValidation.violations(r)));
        List<RateLimit> rateLimits = route.getRoute().getRateLimitsList();
        assertEquals(envoyRoute.getRoute().getRateLimitsList(), rateLimits, istioName);
        var vsRoute = virtualService.getSpec().getHttp().stream()
            .filter(h -> istioName.equals(h.getName())).findFirst().orElseThrow();
        assertEquals(envoyRoute.getMatch().getPath(), ((StringMatchExact) vsRoute.getMatch().get(0).getUri().getMatchType()).getExact(),
            "VirtualService route " + istioName + " must match the same path as envoy.yaml");
      }
    }
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
        value(single(typo, EnvoyFilterApplyTo.HTTP_FILTER)), HttpFilter.newBuilder()));
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
