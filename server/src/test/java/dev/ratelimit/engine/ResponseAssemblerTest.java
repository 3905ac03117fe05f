package dev.ratelimit.engine;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.ops.ServiceMetrics;
import dev.ratelimit.policy.DomainPolicy;
import dev.ratelimit.policy.PolicyIndex;
import dev.ratelimit.policy.PolicyLoader;
import dev.ratelimit.policy.RateLimitRule;
import dev.ratelimit.store.StoreException;
import dev.ratelimit.testing.ManualClock;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The last step of a decision on its own: from decided evaluations (made here, no store involved) to Envoy's
 * response. Which descriptor reports the headers, what a failure answers, and what shadow mode changes.
 */
class ResponseAssemblerTest {
  private static final String POLICY = """
      domain: api
      descriptors:
        - key: plan
          rate_limit: {unit: minute, requests_per_unit: 60, name: plan}
        - key: burst
          rate_limit: {unit: second, requests_per_unit: 20, name: burst}
        - key: quiet
          rate_limit: {unit: minute, requests_per_unit: 10, report_headers: false}
        - key: shadow
          shadow_mode: true
          rate_limit: {unit: minute, requests_per_unit: 5}
        - key: open
          rate_limit: {unlimited: true}
      """;

  private final ManualClock clock = ManualClock.atRoundTime();
  private final long now = clock.millis();
  private DomainPolicy domain;

  @BeforeEach
  void setUp() throws Exception {
    PolicyIndex index = new PolicyLoader().parse(Map.of("api.yaml", POLICY));
    domain = index.domain("api");
  }

  private RateLimitRule rule(String key) {
    return PolicyIndex.match(domain, descriptor(key, "x")).rule();
  }

  /** A decided evaluation of {@code key}'s rule: {@code current} of {@code limit}, resetting {@code resetIn} ms on. */
  private Evaluation decided(String key, boolean over, long limit, long current, long resetIn) {
    Evaluation e = new Evaluation(rule(key), new byte[] {1}, 1, limit);
    e.verdict = new Verdict(over, limit, current, limit - current, now + resetIn);
    return e;
  }

  private RateLimitResponse assemble(FailureMode mode, Evaluation... evaluations) {
    RateLimitDescriptor[] descriptors = new RateLimitDescriptor[evaluations.length];
    for (int i = 0; i < descriptors.length; i++) {
      descriptors[i] = descriptor("d", Integer.toString(i));
    }
    RateLimitRequest request = request("api", descriptors);
    return new ResponseAssembler(mode, new ServiceMetrics(new SimpleMeterRegistry(), clock, 10),
        ResponseHeaders.defaults()).assemble(request, "api", evaluations, now);
  }

  private static Map<String, String> headers(RateLimitResponse response) {
    return response.getResponseHeadersToAddList().stream()
        .collect(Collectors.toMap(HeaderValue::getKey, HeaderValue::getValue));
  }

  @Test
  void overLimitReportsTheOverLimitDescriptorWithTheLatestReset() {
    RateLimitResponse early = assemble(FailureMode.ALLOW, decided("plan", true, 60, 60, 50_000),
        decided("burst", true, 20, 20, 900), decided("plan", false, 60, 59, 30_000));
    assertEquals(Code.OVER_LIMIT, early.getOverallCode());
    assertEquals("60", headers(early).get("x-ratelimit-current"), "the plan resets last: waiting for it frees both");
    RateLimitResponse late = assemble(FailureMode.ALLOW, decided("burst", true, 20, 20, 900),
        decided("plan", true, 60, 60, 50_000));
    assertEquals("60", headers(late).get("x-ratelimit-current"), "whatever the order of the descriptors");
    assertEquals(String.valueOf((now + 50_000) / 1000), headers(late).get("x-ratelimit-reset"));
  }

  @Test
  void withinLimitsReportsTheDescriptorWithTheFewestRemaining() {
    RateLimitResponse ok = assemble(FailureMode.ALLOW, decided("plan", false, 60, 10, 5_000),
        decided("burst", false, 20, 18, 500), decided("plan", false, 60, 30, 5_000));
    assertEquals(Code.OK, ok.getOverallCode());
    assertEquals("2", headers(ok).get("x-ratelimit-remaining"), "burst has 2 left, the plans 50 and 30");
    assertEquals(2, ok.getStatuses(1).getLimitRemaining());
    assertEquals(20, ok.getStatuses(1).getCurrentLimit().getRequestsPerUnit());
  }

  @Test
  void rulesThatDoNotReportHeadersNeverSupplyThemAndShadowModeOnlyReports() {
    RateLimitResponse response = assemble(FailureMode.ALLOW, decided("quiet", true, 10, 10, 40_000),
        decided("shadow", true, 5, 5, 50_000), decided("plan", false, 60, 1, 1_000));
    assertEquals(Code.OVER_LIMIT, response.getOverallCode(), "the quiet rule still rejects");
    assertEquals(Code.OK, response.getStatuses(1).getCode(), "a shadow rule over its limit answers OK");
    assertEquals("59", headers(response).get("x-ratelimit-remaining"), "only the plan may report");
    RateLimitResponse shadowOnly = assemble(FailureMode.ALLOW, decided("shadow", true, 5, 5, 50_000));
    assertEquals(Code.OK, shadowOnly.getOverallCode());
    assertTrue(shadowOnly.getResponseHeadersToAddList().isEmpty());
  }

  @Test
  void whatTheStoreCouldNotDecideIsAnsweredByTheFailureModeAlone() {
    Evaluation failed = new Evaluation(rule("plan"), new byte[] {1}, 1, 60);
    failed.failure = new StoreException(StoreException.Kind.UNAVAILABLE, "down", null);
    Evaluation unresolved = Evaluation.failed(new IllegalArgumentException("too many entries"));
    RateLimitResponse allow = assemble(FailureMode.ALLOW, failed, unresolved, decided("burst", false, 20, 1, 500));
    assertEquals(Code.OK, allow.getOverallCode());
    assertEquals("19", headers(allow).get("x-ratelimit-remaining"), "the decided descriptor still reports");
    RateLimitResponse deny = assemble(FailureMode.DENY, failed, unresolved, decided("burst", false, 20, 1, 500));
    assertEquals(Code.OVER_LIMIT, deny.getOverallCode());
    assertEquals(Code.OVER_LIMIT, deny.getStatuses(0).getCode());
    assertEquals(Code.OVER_LIMIT, deny.getStatuses(1).getCode());
    assertEquals(Code.OK, deny.getStatuses(2).getCode());
  }

  @Test
  void noRuleAndUnlimitedRulesAnswerOkWithoutLimitOrHeaders() {
    RateLimitResponse response = assemble(FailureMode.DENY, null, new Evaluation(rule("open"), null, 0, 0));
    assertEquals(Code.OK, response.getOverallCode());
    assertEquals(Code.OK, response.getStatuses(0).getCode());
    assertEquals(Code.OK, response.getStatuses(1).getCode());
    assertTrue(!response.getStatuses(1).hasCurrentLimit());
    assertTrue(response.getResponseHeadersToAddList().isEmpty());
  }
}
