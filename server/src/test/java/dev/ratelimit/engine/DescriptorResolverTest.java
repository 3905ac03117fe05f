package dev.ratelimit.engine;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.ops.ServiceMetrics;
import dev.ratelimit.policy.DomainPolicy;
import dev.ratelimit.policy.PolicyLoader;
import dev.ratelimit.quota.QuotaBook;
import dev.ratelimit.quota.QuotaLedger;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.testing.ManualClock;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.type.v3.RateLimitUnit;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The first step of a decision on its own: what each descriptor counts against (rule, counter key, hits, limit in
 * force), with no store decision involved. Keys are compared with each other, never with a byte layout.
 */
class DescriptorResolverTest {
  private static final String POLICY = """
      domain: api
      descriptors:
        - key: tier
          value: pro
          descriptors:
            - key: org
              rate_limit: {unit: minute, requests_per_unit: 9000, name: pro}
        - key: partner
          rate_limit: {unit: minute, requests_per_unit: 100, name: partner_default}
        - key: partner
          value: big
          rate_limit: {unit: minute, requests_per_unit: 1000, replaces: [{name: partner_default}]}
        - key: remote_address
          rate_limit: {unit: minute, requests_per_unit: 30}
        - key: open
          rate_limit: {unlimited: true}
        - key: tier
          value: dynamic
          descriptors:
            - key: org
              rate_limit: {unit: second, algorithm: dynamic, window: 10s, dynamic: {base: 50, quota_key: org}}
      """;

  private final ManualClock clock = ManualClock.atRoundTime();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private ChronicleMapStore store;
  private QuotaBook quotas;
  private DescriptorResolver resolver;
  private DomainPolicy domain;

  @BeforeEach
  void setUp() throws Exception {
    store = ChronicleMapStore.open(new ChronicleMapStore.Settings(1_000, 64, QuotaLedger.STATE_SIZE, null));
    quotas = new QuotaBook(store, new QuotaLedger(QuotaLedger.DEFAULT_RATE), 1024);
    resolver = new DescriptorResolver(new RequestLimits(8, 4, 1024),
        new ClientAddressPolicy(Set.of("remote_address"), 32, 64), quotas, new ServiceMetrics(registry, clock, 10));
    domain = new PolicyLoader().parse(Map.of("api.yaml", POLICY)).domain("api");
  }

  @AfterEach
  void tearDown() {
    store.close();
  }

  private Evaluation[] resolve(RateLimitDescriptor... descriptors) {
    return resolver.resolveAll(request("api", descriptors), domain, clock.millis());
  }

  @Test
  void aDescriptorGetsItsRulesLimitAndOneCounterPerDistinctValue() {
    Evaluation[] e = resolve(descriptor("tier", "pro", "org", "acme"), descriptor("tier", "pro", "org", "acme"),
        descriptor("tier", "pro", "org", "globex"), descriptor("tier", "free", "org", "acme"));
    assertEquals("pro", e[0].rule.name());
    assertEquals(9000, e[0].limit);
    assertEquals(1, e[0].hits, "a request's hits_addend of 0 means 1");
    assertArrayEquals(e[0].key, e[1].key, "the same values count in one counter");
    assertFalse(Arrays.equals(e[0].key, e[2].key), "another org has its own counter");
    assertNull(e[3], "no rule for the free tier here: not limited");
  }

  @Test
  void hitsFollowEnvoyDescriptorLevelFirstThenTheRequestsAndSaturate() {
    RateLimitDescriptor pro = descriptor("tier", "pro", "org", "acme");
    RateLimitRequest request = request("api", withHits(pro, 0), pro, withHits(pro, -1)).toBuilder()
        .setHitsAddend(7).build();
    Evaluation[] e = resolver.resolveAll(request, domain, clock.millis());
    assertEquals(0, e[0].hits, "a descriptor's hits_addend of 0 only checks");
    assertEquals(7, e[1].hits, "without its own, the request's");
    assertEquals(Long.MAX_VALUE, e[2].hits, "beyond Long.MAX_VALUE (a uint64 read as negative) saturates");
  }

  @Test
  void anEnvoyOverrideOfTheRulesUnitCountsInTheRulesCounterWithItsOwnLimit() {
    RateLimitDescriptor plain = descriptor("tier", "pro", "org", "acme");
    Evaluation rule = resolve(plain)[0];
    Evaluation minute = resolve(override(plain, 250, RateLimitUnit.MINUTE))[0];
    Evaluation hour = resolve(override(plain, 250, RateLimitUnit.HOUR))[0];
    assertEquals(250, minute.limit);
    assertEquals("pro", minute.rule.name(), "the override keeps the matched rule's name");
    assertArrayEquals(rule.key, minute.key, "a limit's size never changes which counter counts");
    assertFalse(Arrays.equals(rule.key, hour.key), "another window is another counter");
    Evaluation unmatched = resolve(override(descriptor("anything", "x"), 5, RateLimitUnit.SECOND))[0];
    assertEquals(5, unmatched.limit, "an override limits a descriptor no rule matches too");
    assertEquals("override_second", unmatched.rule.name());
  }

  @Test
  void aRuleThatReplacesAnotherLeavesOnlyItselfToCount() {
    assertEquals(100, resolve(descriptor("partner", "small"))[0].limit, "partner_default applies when alone");
    Evaluation[] replaced = resolve(descriptor("partner", "small"), descriptor("partner", "big"));
    assertNull(replaced[0], "partner_default is replaced whenever the big partner's rule matches in the request");
    assertEquals(1000, replaced[1].limit);
  }

  @Test
  void clientAddressesAreKeyedByTheirNetworkWhateverTheirSpelling() {
    Evaluation[] e = resolve(descriptor("remote_address", "2001:db8::1"),
        descriptor("remote_address", "2001:0db8:0:0:ffff::2"), descriptor("remote_address", "2001:db8:1::1"),
        descriptor("remote_address", "10.0.0.1"), descriptor("remote_address", "::ffff:10.0.0.1"),
        descriptor("remote_address", "not an address"), descriptor("remote_address", "garbage too"));
    assertArrayEquals(e[0].key, e[1].key, "one IPv6 /64 shares a counter");
    assertFalse(Arrays.equals(e[0].key, e[2].key), "another /64 does not");
    assertArrayEquals(e[3].key, e[4].key, "an IPv4-mapped IPv6 address is the IPv4 address");
    assertArrayEquals(e[5].key, e[6].key, "whatever is not an address shares one counter, never its own");
    assertEquals(2.0, registry.get("ratelimit_invalid_client_addresses").counter().count());
  }

  @Test
  void aDescriptorThatCannotBeResolvedFailsAloneAndIsCounted() {
    Evaluation[] e = resolve(descriptor("a", "1", "b", "2", "c", "3", "d", "4", "e", "5"),
        descriptor("tier", "pro", "org", "acme"));
    assertNotNull(e[0].error, "five entries exceed the maximum of four");
    assertTrue(e[0].error.getMessage().contains("--max-entries-per-descriptor"), e[0].error.getMessage());
    assertFalse(e[0].counted());
    assertEquals(9000, e[1].limit, "the other descriptor is resolved as usual");
    assertEquals(1.0, registry.get("ratelimit_descriptor_failures").counter().count());
  }

  @Test
  void anUnlimitedRuleIsResolvedButNeverCounted() {
    Evaluation open = resolve(descriptor("open", "x"))[0];
    assertTrue(open.rule.unlimited());
    assertFalse(open.counted());
    assertNull(open.key);
  }

  @Test
  void aDynamicRulesLimitIsItsBasePlusTheOrganisationsAddedQuota() {
    quotas.override("acme", 115, clock.millis());
    List<Evaluation> e = List.of(resolve(descriptor("tier", "dynamic", "org", "acme"),
        descriptor("tier", "dynamic", "org", "globex"), descriptor("tier", "dynamic", "org", "")));
    assertEquals(165, e.get(0).limit);
    assertEquals(50, e.get(1).limit, "an organisation without volume gets the base");
    assertEquals(50, e.get(2).limit, "so does a request without an organisation");
  }

  private static RateLimitDescriptor override(RateLimitDescriptor d, int limit, RateLimitUnit unit) {
    return d.toBuilder().setLimit(RateLimitDescriptor.RateLimitOverride.newBuilder()
        .setRequestsPerUnit(limit).setUnit(unit)).build();
  }
}
