package dev.ratelimit.engine;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.policy.Algorithm;
import dev.ratelimit.policy.DomainPolicy;
import dev.ratelimit.policy.PolicyIndex;
import dev.ratelimit.policy.PolicyLoader;
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
    return TestServer.start(ServerSettings.loopback().configPath(EXAMPLES.resolve(file)).build(), clock);
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

  /** A row of the second-generation table: initial tokens / capacity / refill tokens per refill interval. */
  private record Row(String tier, long initial, long capacity, long refill, Duration interval) {
    /** Intervals an emptied bucket must stay idle to be forgotten: max(initial, capacity) earned back, uncapped. */
    long intervalsToForget() {
      return (Math.max(initial, capacity) + refill - 1) / refill;
    }
  }

  /** The documented table, verbatim (the refills of Pro III and IV inferred, as the example file says). */
  private static final List<Row> TOKEN_BUCKET_TABLE = List.of(
      new Row("free", 60, 60, 60, Duration.ofMinutes(1)),
      new Row("pro_i", 100, 100, 100, Duration.ofSeconds(10)),
      new Row("pro_ii", 500, 500, 50, Duration.ofSeconds(1)),
      new Row("pro_iii", 1_000, 100, 100, Duration.ofSeconds(1)),
      new Row("pro_iv", 5_000, 500, 500, Duration.ofSeconds(1)));

  /** Tokens left, read with a check-only request (hits_addend 0), which changes nothing. */
  private static long tokens(TestServer server, RateLimitDescriptor d) {
    return server.call(request("api", withHits(d, 0))).getStatuses(0).getLimitRemaining();
  }

  /** One request of {@code n} hits is admitted and a single hit right after it is not. */
  private static void assertTakesExactly(TestServer server, RateLimitDescriptor d, long n, String what) {
    assertEquals(Code.OK, server.call(request("api", withHits(d, n))).getOverallCode(), what);
    assertEquals(Code.OVER_LIMIT, server.call(request("api", d)).getOverallCode(), what + ", and not one more");
  }

  @Test
  void everyTokenBucketTierReplaysItsTableRow() throws Exception {
    try (TestServer server = serve("token-bucket-tiers.yaml")) {
      for (Row row : TOKEN_BUCKET_TABLE) {
        String tier = row.tier();
        RateLimitDescriptor d = descriptor("tier", tier, "org", "acme");
        RateLimitResponse before = server.call(request("api", withHits(d, 0)));
        assertEquals(row.capacity(), before.getStatuses(0).getCurrentLimit().getRequestsPerUnit(),
            tier + ": the capacity is the limit");
        assertEquals(row.initial(), before.getStatuses(0).getLimitRemaining(), tier + ": a new bucket");
        assertTakesExactly(server, d, row.initial(), tier + ": the initial burst");
        clock.advance(row.interval().minusMillis(1));
        assertEquals(Code.OVER_LIMIT, server.call(request("api", d)).getOverallCode(), tier + ": before the refill");
        clock.advanceMillis(1);
        long refill = Math.min(row.refill(), row.capacity());
        assertEquals(refill, tokens(server, d), tier + ": one refill, never above the capacity");
        assertTakesExactly(server, d, refill, tier + ": one refill");
        long idle = row.intervalsToForget();
        clock.advance(row.interval().multipliedBy(idle).minusMillis(1));
        assertEquals(Math.min(row.capacity(), (idle - 1) * row.refill()), tokens(server, d),
            tier + ": idle 1 ms short of earning its tokens back, refilled up to the capacity only");
        clock.advanceMillis(1);
        assertEquals(row.initial(), tokens(server, d), tier + ": idle long enough, a new bucket");
        assertTakesExactly(server, d, row.initial(), tier + ": the initial burst again");
      }
    }
  }

  @Test
  void proThreeAdmitsAThousandOnceThenAHundredPerSecond() throws Exception {
    try (TestServer server = serve("token-bucket-tiers.yaml")) {
      RateLimitDescriptor proThree = descriptor("tier", "pro_iii", "org", "acme");
      assertEquals(1_000, admitted(server, proThree, 1_100), "1,000 admitted, the 1,001st rejected");
      clock.advance(Duration.ofSeconds(1));
      assertEquals(100, admitted(server, proThree, 200), "after 1 s: 100 admitted, the 101st rejected");
      clock.advance(Duration.ofSeconds(5));
      assertEquals(100, tokens(server, proThree), "after 5 s idle still only 100: refills stop at the capacity");
      clock.advance(Duration.ofMillis(4_999));
      assertEquals(100, tokens(server, proThree), "still only 100 1 ms before 1,000 tokens are earned back");
      clock.advanceMillis(1);
      assertEquals(1_000, admitted(server, proThree, 1_100), "idle 10 s from empty: 1,000 at 100 per second");
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
