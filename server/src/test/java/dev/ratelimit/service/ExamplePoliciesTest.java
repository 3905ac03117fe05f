package dev.ratelimit.service;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.ratelimit.RateLimitServer;
import dev.ratelimit.config.Algorithm;
import dev.ratelimit.config.DomainPolicy;
import dev.ratelimit.config.PolicyIndex;
import dev.ratelimit.config.PolicyLoader;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Every example policy in envoy-config/ratelimit/examples loads and limits traffic sent through the gRPC service. */
class ExamplePoliciesTest {
  private static final Path EXAMPLES = Path.of("../envoy-config/ratelimit/examples");

  private final ManualClock clock = ManualClock.atRoundTime();

  private TestServer serve(String file) throws Exception {
    return TestServer.start(RateLimitServer.Settings.loopbackDefaults().withConfigPath(EXAMPLES.resolve(file)), clock);
  }

  /** Sends single requests at the current instant until one is rejected; returns how many were admitted. */
  private static int admitted(TestServer server, RateLimitDescriptor d, int max) {
    for (int i = 0; i < max; i++) {
      if (server.call(request("api", d)).getOverallCode() == Code.OVER_LIMIT) {
        return i;
      }
    }
    return max;
  }

  @Test
  void everyExampleLoadsWithoutWarningsAndUsesItsAlgorithm() throws Exception {
    Map<String, Algorithm> expected = Map.of("fixed-tiers.yaml", Algorithm.FIXED_WINDOW,
        "token-bucket-tiers.yaml", Algorithm.TOKEN_BUCKET, "dynamic-tier.yaml", Algorithm.DYNAMIC);
    try (Stream<Path> files = Files.list(EXAMPLES)) {
      assertEquals(expected.keySet(), files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".yaml"))
          .collect(java.util.stream.Collectors.toSet()), "a new example needs a test here");
    }
    for (Map.Entry<String, Algorithm> example : expected.entrySet()) {
      DomainPolicy api = new PolicyLoader().load(EXAMPLES.resolve(example.getKey())).domain("api");
      assertEquals(List.of(), api.warnings(), example.getKey());
      api.rulesById().values().forEach(r -> assertEquals(example.getValue(), r.algorithm(), r.id()));
    }
  }

  @Test
  void fixedTiersResetAtTheTenSecondBoundaryAndKeepThePriceBucketApart() throws Exception {
    try (TestServer server = serve("fixed-tiers.yaml")) {
      Map<String, Integer> tiers = Map.of("pro_i", 100, "pro_ii", 500, "pro_iii", 1000, "pro_iv", 5000);
      tiers.forEach((tier, limit) -> {
        RateLimitDescriptor main = descriptor("tier", tier, "org", "acme");
        RateLimitResponse burst = server.call(request("api", withHits(main, limit)));
        assertEquals(Code.OK, burst.getOverallCode(), tier);
        assertEquals(Code.OVER_LIMIT, server.call(request("api", main)).getOverallCode(), tier);
        RateLimitDescriptor price = descriptor("bucket", "price", "tier", tier, "org", "acme");
        assertEquals(Code.OK, server.call(request("api", withHits(price, limit - 1))).getOverallCode(), tier);
        assertEquals(1, admitted(server, price, 5), tier + ": the price bucket is separate, with its own limit");
      });
      clock.advance(Duration.ofSeconds(9));
      RateLimitDescriptor proTwo = descriptor("tier", "pro_ii", "org", "acme");
      RateLimitResponse stillOver = server.call(request("api", proTwo));
      assertEquals(Code.OVER_LIMIT, stillOver.getOverallCode());
      assertEquals(Long.toString(clock.millis() / 1000 + 1), headers(stillOver).get("x-ratelimit-reset"),
          "the window ends at the next 10 s boundary");
      clock.advance(Duration.ofSeconds(1));
      RateLimitResponse fresh = server.call(request("api", proTwo));
      assertEquals(Code.OK, fresh.getOverallCode(), "a new window at the boundary");
      assertEquals("499", headers(fresh).get("x-ratelimit-remaining"));
    }
  }

  @Test
  void liteIsSixtyPerMinuteWithNoPriceBucket() throws Exception {
    try (TestServer server = serve("fixed-tiers.yaml")) {
      clock.advance(Duration.ofSeconds(30));
      assertEquals(60, admitted(server, descriptor("tier", "lite", "org", "small"), 100));
      RateLimitResponse price = server.call(request("api", descriptor("bucket", "price", "tier", "lite", "org",
          "small")));
      assertEquals(Code.OK, price.getOverallCode());
      assertFalse(price.getStatuses(0).hasCurrentLimit(), "no rule: Lite has no price bucket");
      clock.advance(Duration.ofSeconds(30));
      assertEquals(60, admitted(server, descriptor("tier", "lite", "org", "small"), 100), "new minute");
    }
  }

  @Test
  void proTwoTokenBucketAdmitsABurstOf500ThenFiftyPerSecond() throws Exception {
    try (TestServer server = serve("token-bucket-tiers.yaml")) {
      RateLimitDescriptor proTwo = descriptor("tier", "pro_ii", "org", "acme");
      assertEquals(500, admitted(server, proTwo, 600));
      RateLimitResponse empty = server.call(request("api", proTwo));
      assertEquals("0", headers(empty).get("x-ratelimit-remaining"), "tokens left");
      assertEquals("500", headers(empty).get("x-ratelimit-current"), "capacity - tokens");
      assertEquals(Long.toString(clock.millis() / 1000 + 1), headers(empty).get("x-ratelimit-reset"),
          "the next refill");
      for (int second = 1; second <= 3; second++) {
        clock.advance(Duration.ofSeconds(1));
        assertEquals(50, admitted(server, proTwo, 100), "second " + second);
      }
    }
  }

  @Test
  void everyTokenBucketTierRefillsPerItsTable() throws Exception {
    // tier → {capacity, refill tokens, refill interval seconds}
    Map<String, long[]> tiers = Map.of("free", new long[] {60, 60, 60}, "pro_i", new long[] {100, 100, 10},
        "pro_iii", new long[] {1000, 100, 1}, "pro_iv", new long[] {5000, 500, 1});
    try (TestServer server = serve("token-bucket-tiers.yaml")) {
      for (Map.Entry<String, long[]> tier : tiers.entrySet()) {
        long[] t = tier.getValue();
        RateLimitDescriptor d = descriptor("tier", tier.getKey(), "org", "acme");
        assertEquals(Code.OK, server.call(request("api", withHits(d, t[0]))).getOverallCode(), tier.getKey());
        assertEquals(Code.OVER_LIMIT, server.call(request("api", d)).getOverallCode(), tier.getKey());
        clock.advance(Duration.ofSeconds(t[2]).minusMillis(1));
        assertEquals(Code.OVER_LIMIT, server.call(request("api", d)).getOverallCode(), tier.getKey());
        clock.advanceMillis(1);
        assertEquals(Code.OK, server.call(request("api", withHits(d, t[1]))).getOverallCode(), tier.getKey());
        assertEquals(Code.OVER_LIMIT, server.call(request("api", d)).getOverallCode(), tier.getKey());
      }
    }
  }

  @Test
  void theDynamicTierAdmitsItsBaseOfFiftyPerTenSeconds() throws Exception {
    try (TestServer server = serve("dynamic-tier.yaml")) {
      RateLimitDescriptor d = descriptor("tier", "dynamic", "org", "new-org");
      assertEquals(50, admitted(server, d, 100));
      clock.advance(Duration.ofSeconds(10));
      assertEquals(0, admitted(server, d, 100), "a sliding window: the first 200 ms slot ages out at 10.2 s");
      clock.advance(Duration.ofMillis(200));
      assertEquals(50, admitted(server, d, 100));
      assertEquals(50, server.call(request("api", d)).getStatuses(0).getCurrentLimit().getRequestsPerUnit());
    }
    PolicyIndex index = new PolicyLoader().load(EXAMPLES.resolve("dynamic-tier.yaml"));
    assertEquals(Duration.ofSeconds(10), PolicyIndex.match(index.domain("api"),
        descriptor("tier", "dynamic", "org", "x")).rule().window());
  }
}
