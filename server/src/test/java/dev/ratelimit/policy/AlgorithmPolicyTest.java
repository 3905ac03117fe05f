package dev.ratelimit.policy;

import static dev.ratelimit.testing.TestServer.descriptor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.limiter.FixedWindowLimiter;
import dev.ratelimit.limiter.PenaltyLimiter;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.limiter.TokenBucketLimiter;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The algorithm fields of {@code rate_limit}: parsed, checked against their algorithm, and refused precisely. */
class AlgorithmPolicyTest {
  private final PolicyLoader loader = new PolicyLoader();

  private DomainPolicy parse(String rateLimit) throws ConfigException {
    return loader.parse(Map.of("p.yaml", policy(rateLimit))).domain("d");
  }

  private static String policy(String rateLimit) {
    return "domain: d\ndescriptors:\n  - key: tier\n    descriptors:\n      - key: org\n        rate_limit: "
        + rateLimit + "\n";
  }

  private RateLimitRule rule(String rateLimit) throws ConfigException {
    return PolicyIndex.match(parse(rateLimit), descriptor("tier", "t", "org", "o")).rule();
  }

  private String error(String rateLimit) {
    return assertThrows(ConfigException.class, () -> parse(rateLimit)).getMessage();
  }

  @Test
  void fixedWindow() throws Exception {
    RateLimitRule r = rule("{algorithm: fixed_window, unit: second, unit_multiplier: 10, requests_per_unit: 100}");
    assertEquals(Algorithm.FIXED_WINDOW, r.algorithm());
    assertEquals(100, r.requestsPerUnit());
    assertEquals(10_000, assertInstanceOf(FixedWindowLimiter.class, r.limiter()).windowMillis());
  }

  @Test
  void tokenBucket() throws Exception {
    RateLimitRule r = rule("{algorithm: token_bucket, initial_tokens: 400, capacity: 500, refill_tokens: 50,"
        + " refill_interval: 1s}");
    assertEquals(Algorithm.TOKEN_BUCKET, r.algorithm());
    assertEquals(500, r.requestsPerUnit(), "the capacity is the limit");
    assertEquals(Unit.SECOND, r.unit(), "derived from the refill interval");
    assertEquals(Duration.ofSeconds(1), r.window());
    TokenBucketLimiter bucket = assertInstanceOf(TokenBucketLimiter.class, r.limiter());
    assertEquals(400, bucket.initialTokens());
    assertEquals(50, bucket.refillTokens());
    assertEquals(1_000, bucket.refillIntervalMillis());
    assertEquals(500, ((TokenBucketLimiter) rule("{algorithm: token_bucket, capacity: 500, refill_tokens: 50,"
        + " refill_interval: 1s}").limiter()).initialTokens(), "initial_tokens defaults to the capacity");
    assertEquals(Unit.MINUTE, rule("{algorithm: token_bucket, capacity: 60, refill_tokens: 60, refill_interval: 1m}")
        .unit());
  }

  @Test
  void dynamic() throws Exception {
    RateLimitRule r = rule("{algorithm: dynamic, unit: second, window: 10s, dynamic: {base: 50, quota_key: org}}");
    assertEquals(Algorithm.DYNAMIC, r.algorithm());
    assertEquals(50, r.requestsPerUnit());
    assertEquals(new DynamicQuota("org", 1), r.dynamic());
    assertInstanceOf(SlidingWindowLimiter.class, r.limiter());
    assertEquals(new DynamicQuota("tier", 0),
        rule("{algorithm: dynamic, unit: second, dynamic: {base: 5, quota_key: tier}}").dynamic());
    assertEquals("org", rule("{algorithm: dynamic, unit: second, dynamic: {base: 5}}").dynamic().quotaKey(),
        "quota_key defaults to org");
    assertNull(rule("{unit: second, requests_per_unit: 5}").dynamic());
  }

  @Test
  void penaltyWrapsAnyAlgorithm() throws Exception {
    RateLimitRule r = rule("{algorithm: fixed_window, unit: minute, requests_per_unit: 60,"
        + " penalty: {over_factor: 2.5, duration: 5m}}");
    PenaltyLimiter p = assertInstanceOf(PenaltyLimiter.class, r.limiter());
    assertInstanceOf(FixedWindowLimiter.class, p.inner());
    assertEquals(new BigDecimal("2.5"), p.overFactor());
    assertEquals(300_000, p.durationMillis());
    assertInstanceOf(SlidingWindowLimiter.class, rule("{unit: minute, requests_per_unit: 60}").limiter(),
        "no penalty unless configured");
  }

  @Test
  void invalidTokenBucketParametersAreRefusedWithFileLineAndField() {
    assertEquals("p.yaml:6: descriptors[0].descriptors[0].rate_limit.capacity: must be between 1 and 4294967295,"
        + " not 0", error("{algorithm: token_bucket, capacity: 0, refill_tokens: 1, refill_interval: 1s}"));
    assertTrue(error("{algorithm: token_bucket, capacity: 10, refill_tokens: 1, refill_interval: 0s}")
        .contains("rate_limit.refill_interval: must be a positive duration"));
    assertTrue(error("{algorithm: token_bucket, capacity: 10, refill_tokens: 0, refill_interval: 1s}")
        .contains("rate_limit.refill_tokens: must be between 1 and 4294967295, not 0"));
    assertEquals("p.yaml:6: descriptors[0].descriptors[0].rate_limit.initial_tokens: must be between 0 and 4294967295,"
        + " not -1",
        error("{algorithm: token_bucket, initial_tokens: -1, capacity: 10, refill_tokens: 1, refill_interval: 1s}"));
    assertTrue(error("{algorithm: token_bucket, capacity: 10, refill_interval: 1s}")
        .contains("rate_limit.refill_tokens: is required for algorithm token_bucket"));
  }

  @Test
  void initialTokensMayExceedTheCapacityWithoutAWarning() throws Exception {
    DomainPolicy d = parse("{algorithm: token_bucket, initial_tokens: 1000, capacity: 100, refill_tokens: 100,"
        + " refill_interval: 1s}");
    assertEquals(List.of(), d.warnings(), "a documented shape (Pro III), not a mistake");
    RateLimitRule r = PolicyIndex.match(d, descriptor("tier", "t", "org", "o")).rule();
    assertEquals(100, r.requestsPerUnit(), "the capacity stays the limit");
    assertEquals(1_000, assertInstanceOf(TokenBucketLimiter.class, r.limiter()).initialTokens());
  }

  @Test
  void refillAboveCapacityIsAcceptedWithAWarning() throws Exception {
    DomainPolicy d = parse("{algorithm: token_bucket, capacity: 10, refill_tokens: 20, refill_interval: 1s}");
    assertEquals(List.of("p.yaml:6: descriptors[0].descriptors[0].rate_limit.refill_tokens: 20 is above capacity"
        + " (10): each refill fills the bucket, so this acts as refill_tokens: 10"), d.warnings());
    assertEquals(List.of(), parse("{unit: second, requests_per_unit: 1}").warnings());
  }

  @Test
  void fieldsOfAnotherAlgorithmAreRefused() {
    assertEquals("p.yaml:6: descriptors[0].descriptors[0].rate_limit.capacity: applies only to algorithm"
        + " token_bucket; this rule's algorithm is sliding_window",
        error("{unit: second, requests_per_unit: 1, capacity: 5}"));
    assertTrue(error("{algorithm: token_bucket, capacity: 5, refill_tokens: 1, refill_interval: 1s,"
        + " requests_per_unit: 5}").contains("requests_per_unit: applies only to algorithm sliding_window or"
        + " fixed_window; this rule's algorithm is token_bucket"));
    assertTrue(error("{algorithm: fixed_window, unit: second, requests_per_unit: 1, precision: 10}")
        .contains("precision: applies only to algorithm sliding_window or dynamic"));
    assertTrue(error("{unit: second, requests_per_unit: 1, dynamic: {base: 1}}")
        .contains("dynamic: applies only to algorithm dynamic"));
    assertTrue(error("{algorithm: dynamic, unit: second, requests_per_unit: 1, dynamic: {base: 1}}")
        .contains("requests_per_unit: applies only to algorithm sliding_window or fixed_window"));
    assertTrue(error("{algorithm: token_bucket, window: 10s, capacity: 5, refill_tokens: 1, refill_interval: 1s}")
        .contains("window: applies only to algorithm"));
  }

  @Test
  void invalidDynamicAndPenaltySettingsAreRefused() {
    assertTrue(error("{algorithm: dynamic, unit: second}").contains("rate_limit.dynamic: is required"));
    assertTrue(error("{algorithm: dynamic, unit: second, dynamic: {quota_key: org}}")
        .contains("rate_limit.dynamic.base: is required"));
    assertTrue(error("{algorithm: dynamic, unit: second, dynamic: {base: 5, rate: 2}}")
        .contains("rate_limit.dynamic.rate: unknown field"));
    assertEquals("p.yaml:6: descriptors[0].descriptors[0].rate_limit.dynamic.quota_key: the quota key 'account' is"
        + " not a key of this rule's descriptor [tier, org]; set quota_key to the key naming the organisation",
        error("{algorithm: dynamic, unit: second, dynamic: {base: 5, quota_key: account}}"));
    assertTrue(error("{unit: second, requests_per_unit: 1, penalty: {over_factor: 0.5, duration: 1m}}")
        .contains("rate_limit.penalty.over_factor: must be a number from 1 to 1000000"));
    assertTrue(error("{unit: second, requests_per_unit: 1, penalty: {over_factor: 2}}")
        .contains("rate_limit.penalty.duration: is required"));
    assertTrue(error("{unit: second, requests_per_unit: 1, penalty: {over_factor: 2, duration: soon}}")
        .contains("rate_limit.penalty.duration: must be a positive duration"));
    assertTrue(error("{unlimited: true, penalty: {over_factor: 2, duration: 1m}}")
        .contains("penalty: must not be set on an unlimited rule"));
    assertTrue(error("{algorithm: leaky_bucket, unit: second, requests_per_unit: 1}")
        .contains("unknown algorithm 'leaky_bucket'; expected sliding_window, fixed_window, token_bucket or dynamic"));
  }
}
