package dev.ratelimit.grpc;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.policy.PolicyLoader;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.type.v3.RateLimitUnit;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** ShouldRateLimit over a real loopback gRPC server with the default policy (docs/algorithms.md). */
class RateLimitServiceTest {
  private static final RateLimitDescriptor FREE_ACME = descriptor("tier", "free", "org", "acme");

  private final ManualClock clock = ManualClock.atRoundTime();
  private TestServer server;

  @BeforeEach
  void start() throws Exception {
    server = TestServer.start(ServerSettings.loopback().build(), clock);
  }

  @AfterEach
  void stop() throws Exception {
    server.close();
  }

  private RateLimitResponse call(RateLimitDescriptor... descriptors) {
    return server.call(request("api", descriptors));
  }

  private Status.Code errorOf(RateLimitRequest request) {
    return assertThrows(StatusRuntimeException.class, () -> server.call(request)).getStatus().getCode();
  }

  @Test
  void onlyTheFirewallOverGivesOverLimitWithTheFirewallsHeaders() {
    RateLimitDescriptor blockedIp = descriptor("firewall", "per_ip", "remote_address", "198.51.100.66");
    for (int i = 0; i < 10; i++) {
      assertEquals(Code.OK, call(FREE_ACME, blockedIp).getOverallCode());
      clock.advance(Duration.ofSeconds(1));
    }
    RateLimitResponse response = call(FREE_ACME, blockedIp);
    assertEquals(Code.OVER_LIMIT, response.getOverallCode());
    assertEquals(Code.OK, response.getStatuses(0).getCode(), "the plan (11 of 60) is fine");
    assertEquals(Code.OVER_LIMIT, response.getStatuses(1).getCode());
    Map<String, String> headers = headers(response);
    assertEquals("0", headers.get("x-ratelimit-remaining"));
    assertEquals("10", headers.get("x-ratelimit-current"));
    long firstSlotAgesOut = clock.millis() / 1000 - 10 + 1 + 60;
    assertEquals(Long.toString(firstSlotAgesOut), headers.get("x-ratelimit-reset"));
    assertEquals("firewall_blocked_ip", response.getStatuses(1).getCurrentLimit().getName());
    assertEquals(0, response.getStatuses(1).getLimitRemaining());
    assertEquals(51, response.getStatuses(1).getDurationUntilReset().getSeconds(), "61 s after the first hit");
  }

  @Test
  void onOkTheDescriptorWithTheFewestRemainingReports() {
    RateLimitDescriptor throttledIp = descriptor("firewall", "per_ip", "remote_address", "198.51.100.66");
    RateLimitResponse response = call(FREE_ACME, throttledIp);
    assertEquals(Code.OK, response.getOverallCode());
    assertEquals("9", headers(response).get("x-ratelimit-remaining"), "firewall: 9 left, free plan: 59 left");
    assertEquals(59, response.getStatuses(0).getLimitRemaining());
    assertEquals(60, response.getStatuses(0).getCurrentLimit().getRequestsPerUnit());

    RateLimitResponse unlisted = call(FREE_ACME, descriptor("firewall", "per_ip", "remote_address", "192.0.2.55"));
    assertTrue(!unlisted.getStatuses(1).hasCurrentLimit(), "an address no firewall rule lists is not limited");
    assertEquals("58", headers(unlisted).get("x-ratelimit-remaining"), "so the plan reports");
    assertEquals("2", headers(unlisted).get("x-ratelimit-current"));
  }

  @Test
  void theExecuteBucketAndTheMainBucketNeverAffectEachOther() {
    RateLimitDescriptor main = descriptor("tier", "pro", "org", "acme");
    RateLimitDescriptor execute = descriptor("bucket", "execute", "tier", "pro", "org", "acme");
    RateLimitDescriptor submit = descriptor("bucket", "submit", "tier", "pro", "org", "acme");
    for (int i = 0; i < 100; i++) {
      assertEquals(Code.OK, call(execute).getOverallCode());
    }
    assertEquals(Code.OVER_LIMIT, call(execute).getOverallCode(), "100 per second on execute");
    assertEquals("1", headers(call(main)).get("x-ratelimit-current"), "main bucket untouched by execute");
    assertEquals("1", headers(call(submit)).get("x-ratelimit-current"), "submit bucket untouched by execute");
    clock.advance(Duration.ofMillis(1020));
    assertEquals("1", headers(call(execute)).get("x-ratelimit-current"), "execute window moved on");
    assertEquals("2", headers(call(main)).get("x-ratelimit-current"));
  }

  @Test
  void twoApiKeysOfOneOrganisationShareOneCounter() {
    // Envoy sends the org (from the auth step) for every key of the organisation; the key only reaches firewall rules.
    for (int i = 0; i < 30; i++) {
      call(FREE_ACME, descriptor("firewall", "per_api_key", "api_key", "key-one"));
      call(FREE_ACME, descriptor("firewall", "per_api_key", "api_key", "key-two"));
    }
    RateLimitResponse response = call(FREE_ACME, descriptor("firewall", "per_api_key", "api_key", "key-three"));
    assertEquals(Code.OVER_LIMIT, response.getOverallCode());
    assertEquals("60", headers(response).get("x-ratelimit-current"));
    assertEquals(Code.OK, call(descriptor("tier", "free", "org", "globex")).getOverallCode(), "other orgs unaffected");
  }

  @Test
  void keylessRequestsAreKeyedByClientIp() {
    RateLimitDescriptor first = descriptor("tier", "keyless", "remote_address", "192.0.2.1");
    for (int i = 0; i < 30; i++) {
      assertEquals(Code.OK, call(first).getOverallCode());
    }
    assertEquals(Code.OVER_LIMIT, call(first).getOverallCode());
    assertEquals(Code.OK, call(descriptor("tier", "keyless", "remote_address", "192.0.2.2")).getOverallCode());
  }

  @Test
  void noLockoutAfterA429() {
    for (int i = 0; i < 60; i++) {
      call(FREE_ACME);
    }
    for (int i = 0; i < 100; i++) {
      clock.advance(Duration.ofMillis(100));
      assertEquals(Code.OVER_LIMIT, call(FREE_ACME).getOverallCode());
    }
    clock.advance(Duration.ofMillis(51_000)); // 61 s after the first slot began
    assertEquals(Code.OK, call(FREE_ACME).getOverallCode());
  }

  @Test
  void remainingGoesNegativeAfterAReloadLowersTheLimit() throws Exception {
    for (int i = 0; i < 50; i++) {
      call(FREE_ACME);
    }
    String lowered = new String(PolicyLoader.class.getResourceAsStream(PolicyLoader.DEFAULT_POLICY_RESOURCE)
        .readAllBytes()).replace("{name: free, unit: minute, requests_per_unit: 60}",
        "{name: free, unit: minute, requests_per_unit: 30}");
    server.server().policy().replace(new PolicyLoader().parse(Map.of("lowered.yaml", lowered)));
    RateLimitResponse response = call(FREE_ACME);
    assertEquals(Code.OVER_LIMIT, response.getOverallCode());
    assertEquals("-20", headers(response).get("x-ratelimit-remaining"));
    assertEquals("50", headers(response).get("x-ratelimit-current"), "the counter survived the reload");
  }

  @Test
  void hitsAddendFollowsEnvoy() {
    RateLimitResponse five = server.call(request("api", FREE_ACME).toBuilder().setHitsAddend(5).build());
    assertEquals("5", headers(five).get("x-ratelimit-current"));
    RateLimitResponse peek = call(withHits(FREE_ACME, 0));
    assertEquals("5", headers(peek).get("x-ratelimit-current"), "descriptor hits_addend 0 only checks");
    RateLimitResponse huge = server.call(request("api", FREE_ACME).toBuilder().setHitsAddend(-1).build());
    assertEquals(Code.OVER_LIMIT, huge.getOverallCode(), "2^32-1 hits");
    assertEquals("5", headers(huge).get("x-ratelimit-current"), "rejected hits are not recorded");
    assertEquals(Code.OVER_LIMIT, call(withHits(FREE_ACME, -1L)).getOverallCode(), "2^64-1 saturates");
    assertEquals("6", headers(call(FREE_ACME)).get("x-ratelimit-current"));
  }

  @Test
  void aDescriptorLimitOverrideReplacesTheRule() {
    RateLimitDescriptor overridden = FREE_ACME.toBuilder()
        .setLimit(RateLimitDescriptor.RateLimitOverride.newBuilder().setRequestsPerUnit(2).setUnit(RateLimitUnit.HOUR))
        .build();
    call(overridden);
    call(overridden);
    RateLimitResponse third = call(overridden);
    assertEquals(Code.OVER_LIMIT, third.getOverallCode());
    assertEquals(2, third.getStatuses(0).getCurrentLimit().getRequestsPerUnit());
    assertEquals("1", headers(call(FREE_ACME)).get("x-ratelimit-current"), "the plan's own counter is separate");
    assertEquals(Code.OK, call(descriptor("no", "rule")).getOverallCode());
  }

  @Test
  void unmatchedDescriptorsAndUnknownDomainsAreOkWithoutHeaders() {
    RateLimitResponse unmatched = call(descriptor("tier", "platinum", "org", "acme"));
    assertEquals(Code.OK, unmatched.getOverallCode());
    assertTrue(unmatched.getResponseHeadersToAddList().isEmpty());
    assertTrue(!unmatched.getStatuses(0).hasCurrentLimit());
    RateLimitResponse unknown = server.call(request("no-such-domain", FREE_ACME, FREE_ACME));
    assertEquals(Code.OK, unknown.getOverallCode());
    assertEquals(2, unknown.getStatusesCount());
    assertEquals(1.0, server.registry().get("ratelimit_unknown_domain").counter().count());
  }

  @Test
  void badInputGetsAClearStatusAndTheServerStaysUp() {
    assertEquals(Status.Code.INVALID_ARGUMENT, errorOf(request("", FREE_ACME)));
    assertEquals(Status.Code.INVALID_ARGUMENT, errorOf(request("api")));
    RateLimitRequest.Builder many = RateLimitRequest.newBuilder().setDomain("api");
    for (int i = 0; i < 1_000; i++) {
      many.addDescriptors(FREE_ACME);
    }
    StatusRuntimeException tooMany = assertThrows(StatusRuntimeException.class, () -> server.call(many.build()));
    assertTrue(tooMany.getStatus().getDescription().contains("1000 descriptors exceed the maximum of 64"));
    assertEquals(Code.OK, server.call(request("api", descriptor("tier", "free", "org", "x".repeat(10_240)))
        .toBuilder().setDomain("unknown").build()).getOverallCode(), "values of unknown domains are never stored");
    RateLimitResponse after = call(FREE_ACME);
    assertEquals(Code.OK, after.getOverallCode());
    assertEquals("1", headers(after).get("x-ratelimit-current"), "refused requests counted nothing");
    assertEquals(3.0, server.registry().get("ratelimit_invalid_requests").counter().count());
  }

  @Test
  void whatAClientControlsIsDecidedPerDescriptorNeverRefused() {
    RateLimitDescriptor empty = RateLimitDescriptor.getDefaultInstance();
    RateLimitResponse withEmpty = call(FREE_ACME, empty);
    assertEquals(Code.OK, withEmpty.getOverallCode(), "an empty descriptor matches no rule");
    assertEquals(2, withEmpty.getStatusesCount());
    assertEquals(60, withEmpty.getStatuses(0).getCurrentLimit().getRequestsPerUnit(), "the plan was decided");

    // A 10 kB organisation is counted under a digest of its whole key: limited like any other.
    RateLimitDescriptor longOrg = descriptor("tier", "free", "org", "x".repeat(10_240));
    RateLimitDescriptor otherLongOrg = descriptor("tier", "free", "org", "x".repeat(10_239) + "y");
    for (int i = 0; i < 60; i++) {
      assertEquals(Code.OK, call(longOrg).getOverallCode());
    }
    RateLimitResponse over = call(longOrg, FREE_ACME);
    assertEquals(Code.OVER_LIMIT, over.getOverallCode(), "the 61st call of a long org is over the free plan");
    assertEquals(Code.OVER_LIMIT, over.getStatuses(0).getCode());
    assertEquals("60", headers(over).get("x-ratelimit-current"));
    assertEquals("1", headers(call(withHits(otherLongOrg, 1))).get("x-ratelimit-current"),
        "a long key differing only in its last byte has its own counter");
    assertEquals("2", headers(call(FREE_ACME)).get("x-ratelimit-current"),
        "the request rejected by the long org's plan was not counted in acme's plan");
    assertTrue(server.registry().get("ratelimit_digested_keys").counter().count() >= 62);
    assertEquals(0.0, server.registry().get("ratelimit_invalid_requests").counter().count());
  }

  @Test
  void decisionsAreCountedByRuleAndOutcome() {
    RateLimitDescriptor keyless = descriptor("tier", "keyless", "remote_address", "192.0.2.7");
    for (int i = 0; i < 32; i++) {
      call(keyless);
    }
    assertEquals(30.0, server.registry().get("ratelimit_decisions")
        .tags("domain", "api", "rule", "keyless", "outcome", "ok").counter().count());
    assertEquals(2.0, server.registry().get("ratelimit_decisions")
        .tags("domain", "api", "rule", "keyless", "outcome", "over_limit").counter().count());
  }
}
