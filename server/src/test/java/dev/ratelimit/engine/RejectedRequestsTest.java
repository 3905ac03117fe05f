package dev.ratelimit.engine;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.policy.PolicyReloader;
import dev.ratelimit.policy.RejectedRequests;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.type.v3.RateLimitUnit;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a request leaves in the counters, through the real gRPC service: a rejected request counts nowhere, a counter
 * is identified by what it counts (never by a limit's size), and a descriptor that cannot be evaluated is decided alone.
 */
class RejectedRequestsTest {
  private static final RateLimitDescriptor FREE_ACME = descriptor("tier", "free", "org", "acme");
  private static final RateLimitDescriptor BLOCKED_IP =
      descriptor("firewall", "per_ip", "remote_address", "198.51.100.66"); // 10 per minute in the default policy

  private final ManualClock clock = ManualClock.atRoundTime();

  @TempDir
  Path dir;

  private static long current(TestServer server, String domain, RateLimitDescriptor d) {
    return Long.parseLong(headers(server.call(request(domain, withHits(d, 0)))).get("x-ratelimit-current"));
  }

  /** Sends 40 requests of acme through the blocked address: 10 admitted, 30 rejected by the firewall. */
  private static void fortyThroughTheFirewall(TestServer server) {
    for (int i = 1; i <= 40; i++) {
      RateLimitResponse r = server.call(request("api", FREE_ACME, BLOCKED_IP));
      assertEquals(i <= 10 ? Code.OK : Code.OVER_LIMIT, r.getOverallCode(), "call " + i);
      assertEquals(Code.OK, r.getStatuses(0).getCode(), "the plan itself is within its limit");
    }
  }

  @Test
  void aFirewallRejectionDoesNotDrainTheOrganisationsPlan() throws Exception {
    try (TestServer server = TestServer.start(ServerSettings.loopback().build(), clock)) {
      fortyThroughTheFirewall(server);
      assertEquals(10, current(server, "api", FREE_ACME), "only the 10 admitted requests count in the plan");
      assertEquals(10, current(server, "api", BLOCKED_IP), "and the firewall counted no rejected one");
    }
  }

  @Test
  void envoyproxysBehaviourIsAFlagAway() throws Exception {
    try (TestServer server = TestServer.start(ServerSettings.loopback()
        .rejectedRequests(RejectedRequests.COUNT_WITHIN_LIMIT)
        .build(), clock)) {
      fortyThroughTheFirewall(server);
      assertEquals(40, current(server, "api", FREE_ACME), "count_within_limit: every request counts in the plan");
    }
  }

  @Test
  void aDomainChoosesItsOwnBehaviour() throws Exception {
    Path policy = dir.resolve("api.yaml");
    Files.writeString(policy, """
        domain: api
        rejected_requests: count_within_limit
        descriptors:
          - key: plan
            rate_limit: {unit: minute, requests_per_unit: 100}
          - key: firewall
            rate_limit: {unit: minute, requests_per_unit: 1}
        """);
    try (TestServer server = TestServer.start(ServerSettings.loopback().configPath(policy).build(),
        clock)) {
      for (int i = 0; i < 5; i++) {
        server.call(request("api", descriptor("plan", "p"), descriptor("firewall", "f")));
      }
      assertEquals(5, current(server, "api", descriptor("plan", "p")));
    }
  }

  @Test
  void overridesOfOneUnitShareTheRulesCounter() throws Exception {
    try (TestServer server = TestServer.start(ServerSettings.loopback().build(), clock)) {
      RateLimitDescriptor at250 = override(FREE_ACME, 250);
      RateLimitDescriptor at300 = override(FREE_ACME, 300);
      assertEquals(Code.OK, server.call(request("api", withHits(at250, 200))).getOverallCode());
      assertEquals(Code.OVER_LIMIT, server.call(request("api", withHits(at300, 150))).getOverallCode(),
          "200 + 150 > 300: the override of 300 counts in the same counter as the one of 250");
      assertEquals(Code.OK, server.call(request("api", withHits(at300, 100))).getOverallCode());
      assertEquals(Code.OVER_LIMIT, server.call(request("api", at300)).getOverallCode());
      assertEquals(300, current(server, "api", FREE_ACME), "the plan's own counter (60 s window) holds them");
    }
  }

  @Test
  void aReloadRaisingALimitAcrossACounterWidthKeepsTheCount() throws Exception {
    Path policy = dir.resolve("api.yaml");
    String text = """
        domain: api
        descriptors:
          - key: org
            rate_limit: {unit: minute, requests_per_unit: %d}
        """;
    Files.writeString(policy, text.formatted(200));
    try (TestServer server = TestServer.start(ServerSettings.loopback()
        .configPath(policy)
        .watchConfig(false)
        .build(), clock)) {
      RateLimitDescriptor acme = descriptor("org", "acme");
      assertEquals(Code.OK, server.call(request("api", withHits(acme, 200))).getOverallCode());
      Files.writeString(policy, text.formatted(300));
      assertEquals(PolicyReloader.Status.APPLIED, server.server().reloader().reload("test").status());
      assertEquals(Code.OVER_LIMIT, server.call(request("api", withHits(acme, 150))).getOverallCode(),
          "the 200 counted under a limit of 200 (one-byte slots) are still there under 300 (two-byte slots)");
      assertEquals(Code.OK, server.call(request("api", withHits(acme, 100))).getOverallCode());
      assertEquals(300, current(server, "api", acme));
    }
  }

  @Test
  void durationUntilResetCarriesMilliseconds() throws Exception {
    try (TestServer server = TestServer.start(ServerSettings.loopback().build(), clock)) {
      server.call(request("api", FREE_ACME));
      clock.advance(Duration.ofMillis(58_990));
      RateLimitResponse r = server.call(request("api", withHits(FREE_ACME, 0)));
      assertEquals(2, r.getStatuses(0).getDurationUntilReset().getSeconds(), "the hit of second 0 ages out at 61 s");
      assertEquals(10_000_000, r.getStatuses(0).getDurationUntilReset().getNanos(), "2.010 s, not rounded up");
    }
  }

  @Test
  void aDescriptorThatCannotBeEvaluatedIsDecidedAloneByTheFailureMode() throws Exception {
    RateLimitDescriptor noUnit = FREE_ACME.toBuilder().setLimit(RateLimitDescriptor.RateLimitOverride.newBuilder()
        .setRequestsPerUnit(5).setUnit(RateLimitUnit.UNKNOWN)).build();
    RateLimitDescriptor plan = descriptor("tier", "free", "org", "globex");
    try (TestServer server = TestServer.start(ServerSettings.loopback().build(), clock)) {
      RateLimitResponse r = server.call(request("api", noUnit, plan));
      assertEquals(Code.OK, r.getOverallCode(), "failure mode allow");
      assertEquals(Code.OK, r.getStatuses(1).getCode());
      assertEquals(1, current(server, "api", plan), "the other descriptor was decided and counted");
      assertEquals(1.0, server.registry().get("ratelimit_descriptor_failures").counter().count());
    }
    try (TestServer server = TestServer.start(ServerSettings.loopback()
        .failureMode(FailureMode.DENY)
        .build(), clock)) {
      RateLimitResponse r = server.call(request("api", noUnit, plan));
      assertEquals(Code.OVER_LIMIT, r.getOverallCode(), "failure mode deny");
      assertEquals(Code.OVER_LIMIT, r.getStatuses(0).getCode());
      assertEquals(Code.OK, r.getStatuses(1).getCode());
      assertEquals(0, current(server, "api", plan), "a request rejected by the failure mode counts nowhere");
    }
  }

  @Test
  void aDynamicRuleWithoutAnOrganisationGetsItsBase() throws Exception {
    try (TestServer server = TestServer.start(ServerSettings.loopback()
        .configPath(DynamicQuotaTest.DYNAMIC_TIER)
        .build(), clock)) {
      RateLimitDescriptor noOrg = descriptor("tier", "dynamic", "org", "");
      for (int i = 1; i <= 51; i++) {
        RateLimitResponse r = server.call(request("api", noOrg));
        assertEquals(i <= 50 ? Code.OK : Code.OVER_LIMIT, r.getOverallCode(), "call " + i);
        assertEquals(50, r.getStatuses(0).getCurrentLimit().getRequestsPerUnit());
      }
    }
  }

  private static RateLimitDescriptor override(RateLimitDescriptor d, int perMinute) {
    return d.toBuilder().setLimit(RateLimitDescriptor.RateLimitOverride.newBuilder()
        .setRequestsPerUnit(perMinute).setUnit(RateLimitUnit.MINUTE)).build();
  }
}
