package dev.ratelimit.engine;

import dev.ratelimit.ops.ServiceMetrics;
import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.policy.PolicyHolder;
import dev.ratelimit.policy.PolicyLoader;
import dev.ratelimit.policy.RejectedRequests;
import dev.ratelimit.quota.QuotaBook;
import dev.ratelimit.quota.QuotaLedger;
import dev.ratelimit.security.SecuritySettings;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.store.CounterStore;
import dev.ratelimit.testing.ManualClock;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Which one descriptor supplies the {@code x-ratelimit-*} headers (docs/algorithms.md, response), on the engine itself with a real
 * embedded store and a manual clock: on OVER_LIMIT the over-limit descriptor with the latest reset, on OK the one with
 * the fewest remaining, the first of equals, never a shadow-mode or {@code report_headers: false} rule.
 */
class RateLimitEngineTest {
  private static final String POLICY = """
      domain: d
      descriptors:
        - key: minute
          rate_limit: {name: per_minute, unit: minute, requests_per_unit: 1}
        - key: minute_of_two
          rate_limit: {name: per_minute_of_two, unit: minute, requests_per_unit: 2}
        - key: hour
          rate_limit: {name: per_hour, unit: hour, requests_per_unit: 2}
        - key: roomy
          rate_limit: {name: roomy, unit: minute, requests_per_unit: 100}
        - key: shadow
          shadow_mode: true
          rate_limit: {name: shadow, unit: hour, requests_per_unit: 1}
        - key: quiet
          rate_limit: {name: quiet, unit: hour, requests_per_unit: 1, report_headers: false}
        - key: open
          rate_limit: {name: open, unlimited: true}
        - key: team
          value: "team-*"
          share_threshold: true
          rate_limit: {name: teams, unit: minute, requests_per_unit: 2}
        - key: tier
          value: dynamic
          descriptors:
            - key: org
              rate_limit:
                name: dynamic
                algorithm: dynamic
                unit: minute
                dynamic: {base: 2, quota_key: org}
        - key: outer
          descriptors:
            - key: inner
              rate_limit: {name: nested, unit: minute, requests_per_unit: 1}
      """;
  private static final RateLimitDescriptor MINUTE = descriptor("minute", "a");
  private static final RateLimitDescriptor MINUTE_OF_TWO = descriptor("minute_of_two", "a");
  private static final RateLimitDescriptor HOUR = descriptor("hour", "a");
  private static final RateLimitDescriptor ROOMY = descriptor("roomy", "a");
  private static final RateLimitDescriptor SHADOW = descriptor("shadow", "a");
  private static final RateLimitDescriptor QUIET = descriptor("quiet", "a");

  private final ManualClock clock = ManualClock.atRoundTime();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private CounterStore store;
  private RateLimitEngine engine;

  @BeforeEach
  void start() throws Exception {
    store = ChronicleMapStore.open(new ChronicleMapStore.Settings(1_000, 32, 300, null));
    engine = engine(RequestLimits.defaults(), FailureMode.ALLOW);
  }

  private RateLimitEngine engine(RequestLimits limits, FailureMode failureMode) throws Exception {
    return new RateLimitEngine(new PolicyHolder(new PolicyLoader().parse(Map.of("d.yaml", POLICY))), store, clock,
        limits, failureMode, new ServiceMetrics(registry, clock, ServiceMetrics.DEFAULT_DETAILED_VALUES),
        new QuotaBook(store, new QuotaLedger(QuotaLedger.DEFAULT_RATE), limits.maxKeyBytes()),
        SecuritySettings.defaults().clientAddresses(), RejectedRequests.COUNT_NOWHERE, ResponseHeaders.defaults());
  }

  /** Descriptors a test expects the engine to fail on; any other failure is a bug hidden by failure mode allow. */
  private double expectedDescriptorFailures;

  @AfterEach
  void stop() {
    store.close();
    assertEquals(expectedDescriptorFailures, registry.get("ratelimit_descriptor_failures").counter().count(),
        "descriptors the engine failed to evaluate");
  }

  private RateLimitResponse call(RateLimitDescriptor... descriptors) throws InvalidRequestException {
    return engine.shouldRateLimit(request("d", descriptors));
  }

  /** Uses up a descriptor's limit alone (a rejected request counts nowhere, so each is filled on its own). */
  private void fill(RateLimitDescriptor descriptor, int limit) throws InvalidRequestException {
    for (int i = 0; i < limit; i++) {
      assertEquals(Code.OK, call(descriptor).getOverallCode());
    }
  }

  private long seconds(Duration fromStart) {
    return (ManualClock.atRoundTime().millis() + fromStart.toMillis()) / 1000;
  }

  @Test
  void overLimitReportsTheLatestResetWhicheverComesFirst() throws Exception {
    fill(MINUTE, 1);
    fill(HOUR, 2);
    clock.advance(Duration.ofSeconds(5));
    // The minute's hit ages out at 61 s; the hour's (one-minute slots) at 1 h 1 min: waiting for the latter frees both.
    long hourReset = seconds(Duration.ofMinutes(61));
    for (RateLimitResponse r : new RateLimitResponse[] {call(MINUTE, HOUR), call(HOUR, MINUTE)}) {
      assertEquals(Code.OVER_LIMIT, r.getOverallCode());
      Map<String, String> headers = headers(r);
      assertEquals(Long.toString(hourReset), headers.get("x-ratelimit-reset"), r.toString());
      assertEquals("2", headers.get("x-ratelimit-current"));
      assertEquals("0", headers.get("x-ratelimit-remaining"));
    }
  }

  @Test
  void overLimitDescriptorsWithTheSameResetReportTheFirst() throws Exception {
    fill(MINUTE, 1);
    fill(MINUTE_OF_TWO, 2);
    clock.advance(Duration.ofSeconds(5));
    assertEquals("1", headers(call(MINUTE, MINUTE_OF_TWO)).get("x-ratelimit-current"));
    assertEquals("2", headers(call(MINUTE_OF_TWO, MINUTE)).get("x-ratelimit-current"));
  }

  @Test
  void anOverLimitDescriptorReportsBeforeAnyWithinItsLimitWhereverItIs() throws Exception {
    fill(MINUTE, 1);
    clock.advance(Duration.ofSeconds(5));
    for (RateLimitResponse r : new RateLimitResponse[] {call(ROOMY, MINUTE), call(MINUTE, ROOMY)}) {
      assertEquals(Code.OVER_LIMIT, r.getOverallCode());
      assertEquals("1", headers(r).get("x-ratelimit-current"), "the over-limit minute, not the roomy plan");
      assertEquals(Long.toString(seconds(Duration.ofSeconds(61))), headers(r).get("x-ratelimit-reset"));
    }
  }

  @Test
  void withinTheLimitsTheFewestRemainingReports() throws Exception {
    RateLimitResponse r = call(ROOMY, MINUTE_OF_TWO);
    assertEquals(Code.OK, r.getOverallCode());
    assertEquals("1", headers(r).get("x-ratelimit-remaining"), "2 - 1 left, not 100 - 1");
    r = call(MINUTE_OF_TWO, ROOMY);
    assertEquals("0", headers(r).get("x-ratelimit-remaining"), "whatever the order");
    assertEquals("2", headers(r).get("x-ratelimit-current"));
  }

  @Test
  void withinTheLimitsTheFirstOfEqualRemainingReports() throws Exception {
    // One left in each: the minute (reset at 61 s) or the hour (reset at 61 min), whichever the request names first.
    assertEquals(Long.toString(seconds(Duration.ofSeconds(61))),
        headers(call(MINUTE_OF_TWO, HOUR)).get("x-ratelimit-reset"));
    assertEquals(Long.toString(seconds(Duration.ofMinutes(61))),
        headers(call(descriptor("hour", "b"), descriptor("minute_of_two", "b"))).get("x-ratelimit-reset"));
  }

  @Test
  void shadowModeAndReportHeadersFalseNeverReportEvenWhenOverTheirLimit() throws Exception {
    fill(SHADOW, 1);
    fill(QUIET, 1);
    RateLimitResponse r = call(SHADOW, QUIET, ROOMY);
    assertEquals(Code.OVER_LIMIT, r.getOverallCode(), "quiet enforces its limit without reporting it");
    assertEquals(Code.OK, r.getStatuses(0).getCode(), "shadow mode reports OK over its limit");
    assertEquals(Code.OVER_LIMIT, r.getStatuses(1).getCode());
    assertEquals("1", headers(r).get("x-ratelimit-current"), "the roomy plan reports its own decision");
    assertEquals("99", headers(r).get("x-ratelimit-remaining"));
    assertTrue(headers(call(SHADOW, QUIET)).isEmpty(), "no descriptor may report: no headers at all");
  }

  @Test
  void statusesCarryTheLimitTheRemainingAndTheTimeUntilReset() throws Exception {
    call(withHits(HOUR, 1));
    clock.advance(Duration.ofSeconds(90).plusMillis(250));
    RateLimitResponse.DescriptorStatus status = call(withHits(HOUR, 0)).getStatuses(0);
    assertEquals("per_hour", status.getCurrentLimit().getName());
    assertEquals(2, status.getCurrentLimit().getRequestsPerUnit());
    assertEquals(1, status.getLimitRemaining());
    // The hit of minute 0 ages out at 61 min, 59 min 29.75 s from now.
    assertEquals(59 * 60 + 29, status.getDurationUntilReset().getSeconds());
    assertEquals(750_000_000, status.getDurationUntilReset().getNanos());
    assertFalse(status.getCode() == Code.OVER_LIMIT);
  }

  @Test
  void exactlyTheMaximumOfDescriptorsIsDecidedAndOneMoreIsRefusedCountingNothing() throws Exception {
    RateLimitEngine two = engine(new RequestLimits(2, 16, 1024), FailureMode.ALLOW);
    assertEquals(2, two.shouldRateLimit(request("d", ROOMY, ROOMY)).getStatusesCount());
    InvalidRequestException e = assertThrows(InvalidRequestException.class,
        () -> two.shouldRateLimit(request("d", ROOMY, ROOMY, ROOMY)));
    assertEquals("3 descriptors exceed the maximum of 2 per request", e.getMessage());
    assertEquals("2", headers(call(withHits(ROOMY, 0))).get("x-ratelimit-current"), "the refused call counted nothing");
    assertEquals(1.0, registry.get("ratelimit_invalid_requests").counter().count());
  }

  @Test
  void aDescriptorWithTooManyEntriesIsDecidedAloneByTheFailureModeAllow() throws Exception {
    RateLimitEngine twoEntries = engine(new RequestLimits(64, 2, 1024), FailureMode.ALLOW);
    RateLimitDescriptor nested = descriptor("outer", "x", "inner", "y");
    RateLimitDescriptor tooLong = descriptor("outer", "x", "inner", "y", "extra", "z");
    RateLimitResponse r = twoEntries.shouldRateLimit(request("d", nested, tooLong, ROOMY));
    assertEquals(Code.OK, r.getOverallCode());
    assertEquals("nested", r.getStatuses(0).getCurrentLimit().getName(), "two entries: decided by its rule");
    assertFalse(r.getStatuses(1).hasCurrentLimit(), "three entries: allowed by the failure mode, no limit");
    expectedDescriptorFailures = 1;
    assertEquals("1", headers(call(withHits(ROOMY, 0))).get("x-ratelimit-current"), "the others counted as usual");
  }

  @Test
  void withFailureModeDenyADescriptorThatCannotBeEvaluatedRejectsAndTheOthersAreOnlyRead() throws Exception {
    RateLimitEngine deny = engine(new RequestLimits(64, 2, 1024), FailureMode.DENY);
    expectedDescriptorFailures = 1;
    call(ROOMY);
    RateLimitResponse r = deny.shouldRateLimit(request("d", ROOMY, descriptor("outer", "x", "inner", "y", "extra", "z")));
    assertEquals(Code.OVER_LIMIT, r.getOverallCode());
    assertEquals(Code.OK, r.getStatuses(0).getCode(), "the plan itself is within its limit");
    assertEquals(Code.OVER_LIMIT, r.getStatuses(1).getCode());
    assertEquals("1", headers(r).get("x-ratelimit-current"), "the plan was only read: a rejected request counts nowhere");
    assertEquals("1", headers(call(withHits(ROOMY, 0))).get("x-ratelimit-current"));
  }

  @Test
  void anUnknownDomainIsOkForEveryDescriptorAndCountedNowhere() throws Exception {
    RateLimitResponse r = engine.shouldRateLimit(request("nowhere", ROOMY, MINUTE, HOUR));
    assertEquals(Code.OK, r.getOverallCode());
    assertEquals(3, r.getStatusesCount());
    assertTrue(r.getResponseHeadersToAddList().isEmpty());
    assertEquals(0, store.size());
    assertEquals(1.0, registry.get("ratelimit_unknown_domain").counter().count());
  }

  @Test
  void aDescriptorMatchingNoRuleOrAnUnlimitedOneIsOkWithoutALimitAndCountsNothing() throws Exception {
    RateLimitResponse r = call(descriptor("nothing", "here"), descriptor("open", "x"),
        descriptor("minute", "a", "deeper", "b"));
    assertEquals(Code.OK, r.getOverallCode());
    for (int i = 0; i < 3; i++) {
      assertFalse(r.getStatuses(i).hasCurrentLimit(), "descriptor " + i);
    }
    assertTrue(r.getResponseHeadersToAddList().isEmpty(), "none of them may report");
    for (int i = 0; i < 5; i++) {
      assertEquals(Code.OK, call(descriptor("open", "x")).getOverallCode(), "unlimited");
    }
    assertEquals(0, store.size(), "nothing stored");
  }

  @Test
  void aSharedWildcardCountsEveryMatchingValueInOneCounter() throws Exception {
    call(descriptor("team", "team-red"));
    RateLimitResponse second = call(descriptor("team", "team-blue"));
    assertEquals("2", headers(second).get("x-ratelimit-current"), "share_threshold: red and blue share one counter");
    assertEquals(Code.OVER_LIMIT, call(descriptor("team", "team-green")).getOverallCode());
  }

  @Test
  void aDynamicRuleAllowsItsBasePlusTheOrganisationsAddedQuota() throws Exception {
    engine.quotas().override("acme", 3, clock.millis());
    RateLimitDescriptor acme = descriptor("tier", "dynamic", "org", "acme");
    for (int i = 0; i < 5; i++) {
      assertEquals(Code.OK, call(acme).getOverallCode(), "request " + (i + 1) + " of 2 + 3");
    }
    RateLimitResponse over = call(acme);
    assertEquals(Code.OVER_LIMIT, over.getOverallCode());
    assertEquals(5, over.getStatuses(0).getCurrentLimit().getRequestsPerUnit());
    RateLimitDescriptor other = descriptor("tier", "dynamic", "org", "other");
    assertEquals("1", headers(call(other)).get("x-ratelimit-remaining"), "no added quota: the base of 2 only");
  }

  @Test
  void aLimitOverrideCountsAsASlidingWindowOfItsUnitNamedAfterTheRuleItReplaces() throws Exception {
    RateLimitDescriptor overridden = HOUR.toBuilder().setLimit(RateLimitDescriptor.RateLimitOverride.newBuilder()
        .setRequestsPerUnit(3).setUnit(io.envoyproxy.envoy.type.v3.RateLimitUnit.HOUR)).build();
    call(HOUR);
    RateLimitResponse r = call(overridden);
    assertEquals("per_hour", r.getStatuses(0).getCurrentLimit().getName());
    assertEquals(3, r.getStatuses(0).getCurrentLimit().getRequestsPerUnit());
    assertEquals("2", headers(r).get("x-ratelimit-current"), "one hour window: the rule's counter, a new limit");
    RateLimitDescriptor unmatched = descriptor("nothing", "here").toBuilder().setLimit(
        RateLimitDescriptor.RateLimitOverride.newBuilder().setRequestsPerUnit(1)
            .setUnit(io.envoyproxy.envoy.type.v3.RateLimitUnit.MINUTE)).build();
    assertEquals("override_minute", call(unmatched).getStatuses(0).getCurrentLimit().getName());
    assertEquals(Code.OVER_LIMIT, call(unmatched).getOverallCode(), "an override applies without a rule too");
    RateLimitDescriptor noUnit = descriptor("nothing", "here").toBuilder().setLimit(
        RateLimitDescriptor.RateLimitOverride.newBuilder().setRequestsPerUnit(1)).build();
    assertFalse(call(noUnit).getStatuses(0).hasCurrentLimit(), "no unit: decided by the failure mode");
    expectedDescriptorFailures = 1;
  }

  @Test
  void hitsFollowEnvoyADescriptorsZeroOnlyChecksAndHugeValuesSaturate() throws Exception {
    fill(MINUTE_OF_TWO, 1);
    RateLimitResponse peek = call(withHits(MINUTE_OF_TWO, 0));
    assertEquals(Code.OK, peek.getOverallCode(), "hits_addend 0 only checks: it fits whatever is left");
    assertEquals("1", headers(peek).get("x-ratelimit-current"));
    assertEquals(Code.OVER_LIMIT, call(withHits(MINUTE_OF_TWO, -1L)).getOverallCode(), "2^64 - 1 saturates");
    assertEquals(Code.OK, engine.shouldRateLimit(request("d", MINUTE_OF_TWO).toBuilder().setHitsAddend(1).build())
        .getOverallCode());
    assertEquals(Code.OVER_LIMIT, call(MINUTE_OF_TWO).getOverallCode(), "request hits_addend 0 means 1");
  }

  private double decisions(String rule, String outcome) {
    return registry.get("ratelimit_decisions").tag("rule", rule).tag("outcome", outcome).counter().count();
  }

  @Test
  void aDescriptorTheStoreCannotDecideIsDecidedByTheFailureModeAndCountedAsAStoreFailure() throws Exception {
    RateLimitEngine deny = engine(RequestLimits.defaults(), FailureMode.DENY);
    store.close(); // a real store that cannot decide: every call fails as unavailable
    RateLimitResponse allowed = call(ROOMY, descriptor("nothing", "here"));
    assertEquals(Code.OK, allowed.getOverallCode(), "failure mode allow");
    assertFalse(allowed.getStatuses(0).hasCurrentLimit(), "no count to report");
    assertTrue(allowed.getResponseHeadersToAddList().isEmpty());
    RateLimitResponse denied = deny.shouldRateLimit(request("d", ROOMY, descriptor("nothing", "here")));
    assertEquals(Code.OVER_LIMIT, denied.getOverallCode(), "failure mode deny");
    assertEquals(Code.OVER_LIMIT, denied.getStatuses(0).getCode());
    assertEquals(Code.OK, denied.getStatuses(1).getCode(), "a descriptor without a rule never asked the store");
    assertEquals(2.0, registry.get("ratelimit_store_failures").tag("kind", "unavailable").counter().count());
    assertEquals(2.0, decisions("roomy", "store_failure"), "a store failure, not a descriptor the engine failed on");
  }

  @Test
  void eachDescriptorsDecisionIsCountedUnderItsRuleAndOutcome() throws Exception {
    fill(MINUTE, 1);
    fill(SHADOW, 1);
    call(MINUTE, SHADOW, descriptor("open", "x"), descriptor("nothing", "here"));
    assertEquals(1.0, decisions("per_minute", "ok"));
    assertEquals(1.0, decisions("per_minute", "over_limit"));
    assertEquals(1.0, decisions("shadow", "shadow_over_limit"));
    assertEquals(1.0, decisions("open", "unlimited"), "an unlimited rule matched: not a descriptor without a rule");
    assertEquals(1.0, decisions("none", "no_rule"));
  }

  @Test
  void inspectReadsAMatchedCounterAndNothingForNoRuleOrAnUnlimitedOne() throws Exception {
    fill(MINUTE_OF_TWO, 1);
    RateLimitEngine.CounterView view = engine.inspect("d", MINUTE_OF_TWO);
    assertEquals("per_minute_of_two", view.rule().name());
    assertEquals(1, view.verdict().current());
    assertEquals(1, engine.inspect("d", MINUTE_OF_TWO).verdict().current(), "reading counts nothing");
    assertEquals(null, engine.inspect("d", descriptor("nothing", "here")), "no rule matches");
    assertEquals(null, engine.inspect("d", descriptor("open", "x")), "an unlimited rule keeps no counter");
    assertEquals(null, engine.inspect("elsewhere", MINUTE_OF_TWO), "an unknown domain");
    assertThrows(InvalidRequestException.class, () -> engine.inspect("", MINUTE_OF_TWO), "an empty domain");
  }

  @Test
  void theSmallestRequestBoundsAreOneDescriptorOneEntryAndTheShortestKey() {
    int shortest = dev.ratelimit.store.CounterKey.MIN_MAX_BYTES;
    assertEquals(1, new RequestLimits(1, 1, shortest).maxDescriptors());
    assertThrows(IllegalArgumentException.class, () -> new RequestLimits(0, 1, shortest));
    assertThrows(IllegalArgumentException.class, () -> new RequestLimits(1, 0, shortest));
    assertThrows(IllegalArgumentException.class, () -> new RequestLimits(1, 1, shortest - 1));
  }
}
