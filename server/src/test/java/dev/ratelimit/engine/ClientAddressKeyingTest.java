package dev.ratelimit.engine;

import dev.ratelimit.security.SecuritySettings;
import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Client addresses over gRPC: one client however its address is written, and one limit per IPv6 /64. */
class ClientAddressKeyingTest {
  private static final String POLICY = """
      domain: edge
      descriptors:
        - key: remote_address
          rate_limit: {unit: minute, requests_per_unit: 5}
        - key: blocked
          descriptors:
            - key: remote_address
              value: 192.0.2.1
              rate_limit: {unit: minute, requests_per_unit: 1}
        - key: office
          descriptors:
            - key: remote_address
              value: "*::1"
              rate_limit: {unit: minute, requests_per_unit: 1}
      """;

  @TempDir
  Path dir;

  @Test
  void rotatingAddressesInsideOneIpv6SlashSixtyFourShareOneLimit() throws Exception {
    try (TestServer server = start(ClientAddressPolicy.defaults())) {
      for (int i = 1; i <= 5; i++) {
        assertEquals(Code.OK, hit(server, "2001:db8:1:2:" + Integer.toHexString(i * 4099) + ":77:0:" + i));
      }
      assertEquals(Code.OVER_LIMIT, hit(server, "2001:db8:1:2:dead:beef:cafe:1"), "a sixth address in the /64");
      assertEquals(Code.OVER_LIMIT, hit(server, "2001:DB8:1:2::1"), "written in upper case, still the same /64");
      assertEquals(Code.OK, hit(server, "2001:db8:1:3::1"), "the next /64 is another client");
    }
  }

  @Test
  void withPrefix128EachIpv6AddressIsItsOwnClient() throws Exception {
    try (TestServer server = start(new ClientAddressPolicy(Set.of("remote_address"), 32, 128))) {
      for (int i = 1; i <= 5; i++) {
        assertEquals(Code.OK, hit(server, "2001:db8:1:2::1"));
      }
      assertEquals(Code.OVER_LIMIT, hit(server, "2001:db8:1:2:0:0:0:1"), "the same address, written longhand");
      assertEquals(Code.OK, hit(server, "2001:db8:1:2::2"));
    }
  }

  @Test
  void anIpv4MappedAddressIsTheIpv4Client() throws Exception {
    try (TestServer server = start(ClientAddressPolicy.defaults())) {
      for (int i = 0; i < 2; i++) {
        assertEquals(Code.OK, hit(server, "198.51.100.7"));
        assertEquals(Code.OK, hit(server, "::ffff:198.51.100.7"));
      }
      assertEquals(Code.OK, hit(server, "0:0:0:0:0:ffff:198.51.100.7"));
      assertEquals(Code.OVER_LIMIT, hit(server, "::FFFF:c633:6407"), "the sixth hit, in a fourth spelling");
      // Policy values match however the address is written.
      assertEquals(Code.OK, server.call(request("edge", descriptor("blocked", "x", "remote_address",
          "::ffff:192.0.2.1"))).getOverallCode());
      assertEquals(Code.OVER_LIMIT, server.call(request("edge", descriptor("blocked", "x", "remote_address",
          "192.0.2.1"))).getOverallCode());
    }
  }

  @Test
  void valuesThatAreNotAddressesShareOneCounterSoInventingThemGainsNothing() throws Exception {
    try (TestServer server = start(ClientAddressPolicy.defaults())) {
      for (int i = 0; i < 5; i++) {
        assertEquals(Code.OK, hit(server, "not-an-ip-" + i));
      }
      assertEquals(Code.OVER_LIMIT, hit(server, "fe80::1%eth" + 9));
      assertEquals(5.0, server.registry().get("ratelimit_invalid_client_addresses").counter().count(), 1.0);
      assertEquals(Code.OK, hit(server, "203.0.113.9"), "real addresses are unaffected");
    }
  }

  @Test
  void withAddressKeyingOffValuesAreKeyedExactlyAsSent() throws Exception {
    try (TestServer server = start(ClientAddressPolicy.none())) {
      for (int i = 0; i < 5; i++) {
        assertEquals(Code.OK, hit(server, "1.2.3.4"));
      }
      assertEquals(Code.OK, hit(server, "::ffff:1.2.3.4"), "without normalisation this is a different value");
      assertEquals(Code.OVER_LIMIT, hit(server, "1.2.3.4"), "the value as sent has its own counter, now full");
    }
  }

  @Test
  void aWildcardValueOnAnAddressKeyCountsPerNetwork() throws Exception {
    try (TestServer server = start(ClientAddressPolicy.defaults())) {
      assertEquals(Code.OK, office(server, "2001:db8:5:6::1"));
      assertEquals(Code.OVER_LIMIT, office(server, "2001:db8:5:6:1::1"), "another address of the same /64");
      assertEquals(Code.OK, office(server, "2001:db8:5:7::1"), "the next /64 is another client");
    }
  }

  @Test
  void anOverrideWithoutARuleKeysItsAddressByNetworkToo() throws Exception {
    try (TestServer server = start(ClientAddressPolicy.defaults())) {
      assertEquals(Code.OK, overridden(server, "2001:db8:9:9::1"));
      assertEquals(Code.OVER_LIMIT, overridden(server, "2001:db8:9:9::2"), "another address of the same /64");
      assertEquals(Code.OK, overridden(server, "2001:db8:9:a::1"), "the next /64 is another client");
    }
  }

  private static Code office(TestServer server, String address) {
    return server.call(request("edge", descriptor("office", "x", "remote_address", address))).getOverallCode();
  }

  /** A descriptor no rule matches ("blocked" names one address only), with Envoy's override of 1 per minute. */
  private static Code overridden(TestServer server, String address) {
    return server.call(request("edge", descriptor("blocked", "y", "remote_address", address).toBuilder()
        .setLimit(io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor.RateLimitOverride.newBuilder()
            .setRequestsPerUnit(1).setUnit(io.envoyproxy.envoy.type.v3.RateLimitUnit.MINUTE))
        .build())).getOverallCode();
  }

  private TestServer start(ClientAddressPolicy addresses) throws Exception {
    Path policy = dir.resolve("edge.yaml");
    Files.writeString(policy, POLICY);
    return TestServer.start(ServerSettings.loopback()
        .configPath(policy)
        .security(SecuritySettings.defaults().withClientAddresses(addresses))
        .build(), ManualClock.atRoundTime());
  }

  private static Code hit(TestServer server, String address) {
    return server.call(request("edge", descriptor("remote_address", address))).getOverallCode();
  }
}
