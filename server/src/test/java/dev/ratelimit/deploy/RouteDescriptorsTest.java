package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The descriptors that the route actions of {@code envoy.yaml} produce are the ones the default
 * policy ({@code api.yaml}) expects, for keyed and keyless requests on every kind of route.
 */
@Tag("deploy")
class RouteDescriptorsTest {
  static RouteDescriptors routes;

  @BeforeAll
  static void load() throws Exception {
    routes = RouteDescriptors.of(EnvoyBootstrapTest.bootstrap());
  }

  private static List<String> descriptors(SampleRequest request) {
    return Descriptors.text(routes.descriptors(request));
  }

  @Test
  void keyedRequestOnOrdinaryRouteSendsPlanBucketAndAllFirewalls() {
    assertEquals(List.of(
            "[tier=pro, org=acme]",
            "[firewall=per_ip, remote_address=203.0.113.7]",
            "[firewall=per_api_key, api_key=key-1]",
            "[firewall=per_team, org=acme]"),
        descriptors(SampleRequest.keyed("/swap/v1/quote?sellToken=ETH", "key-1", "acme", "pro", "203.0.113.7")));
  }

  @Test
  void dedicatedRoutesSendTheirBucketInsteadOfThePlanBucket() {
    assertEquals(List.of(
            "[bucket=execute, tier=pro, org=acme]",
            "[firewall=per_ip, remote_address=203.0.113.7]",
            "[firewall=per_api_key, api_key=key-1]",
            "[firewall=per_team, org=acme]"),
        descriptors(SampleRequest.keyed("/swap/v2/execute", "key-1", "acme", "pro", "203.0.113.7")));
    assertEquals(List.of(
            "[bucket=submit, tier=keyless, remote_address=203.0.113.8]",
            "[firewall=per_ip, remote_address=203.0.113.8]"),
        descriptors(SampleRequest.keyless("/tx/v1/submit", "203.0.113.8")));
  }

  @Test
  void keylessRequestIsKeyedByClientAddress() {
    assertEquals(List.of(
            "[tier=keyless, remote_address=203.0.113.9]",
            "[firewall=per_ip, remote_address=203.0.113.9]"),
        descriptors(SampleRequest.keyless("/swap/v1/price", "203.0.113.9")));
  }

  @Test
  void aTierWithoutOrganisationIsTreatedAsKeyless() {
    // Only the auth step sets these headers (envoy.yaml strips client copies); if it ever set the
    // tier alone, the request must not escape every plan limit.
    assertEquals(List.of(
            "[tier=keyless, remote_address=203.0.113.9]",
            "[firewall=per_ip, remote_address=203.0.113.9]"),
        descriptors(new SampleRequest("/swap/v1/price", Map.of("X-Org-Tier", "pro"), "203.0.113.9")));
  }

  @Test
  void pathsNearTheDedicatedOnesUseThePlanBucket() {
    assertEquals("[tier=free, org=o1]",
        descriptors(SampleRequest.keyed("/swap/v2/execute/x", "k", "o1", "free", "203.0.113.1")).get(0));
    assertEquals("[bucket=execute, tier=free, org=o1]",
        descriptors(SampleRequest.keyed("/swap/v2/execute?slippage=1", "k", "o1", "free", "203.0.113.1")).get(0));
  }

  @Test
  void evaluatorRefusesWhatItDoesNotModel() throws Exception {
    Bootstrap.Builder b = EnvoyBootstrapTest.bootstrap().toBuilder();
    // Replace the remote_address action of the keyless main descriptor by one the evaluator lacks.
    var hcmFilter = b.getStaticResourcesBuilder().getListenersBuilder(0).getFilterChainsBuilder(0).getFiltersBuilder(0);
    var hcm = hcmFilter.getTypedConfig().unpack(
        io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.class).toBuilder();
    hcm.getRouteConfigBuilder().getVirtualHostsBuilder(0).getRoutesBuilder(2).getRouteBuilder()
        .getRateLimitsBuilder(1).getActionsBuilder(1).setSourceCluster(
            io.envoyproxy.envoy.config.route.v3.RateLimit.Action.SourceCluster.getDefaultInstance());
    hcmFilter.setTypedConfig(com.google.protobuf.Any.pack(hcm.build()));
    RouteDescriptors changed = RouteDescriptors.of(b.build());
    assertThrows(UnsupportedOperationException.class,
        () -> changed.descriptors(SampleRequest.keyless("/", "203.0.113.9")));
  }
}
