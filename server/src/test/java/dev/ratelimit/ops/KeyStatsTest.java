package dev.ratelimit.ops;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.Http;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** envoyproxy/ratelimit's per-key stats, split by hits as its base limiter splits them, and gRPC call metrics. */
class KeyStatsTest {
  @TempDir
  Path dir;

  @Test
  void keysAreTheRulesKeyPathBelowTheDomain() {
    assertEquals("tier_pro.org", ServiceMetrics.statKey("api", "api/tier=pro/org"));
    assertEquals("bucket_execute.tier_free.org", ServiceMetrics.statKey("api", "api/bucket=execute/tier=free/org"));
    assertEquals("remote_address", ServiceMetrics.statKey("api", "api/remote_address"));
    assertEquals("override.MINUTE", ServiceMetrics.statKey("api", "override/MINUTE"));
  }

  @Test
  void hitsAreSplitIntoWithinNearOverAndShadow() throws Exception {
    Files.writeString(dir.resolve("p.yaml"), """
        domain: shop
        descriptors:
          - key: tier
            value: free
            descriptors:
              - key: org
                rate_limit: {name: free, unit: minute, requests_per_unit: 60}
          - key: trial
            shadow_mode: true
            rate_limit: {unit: minute, requests_per_unit: 10}
          - key: open
            rate_limit: {unlimited: true}
        """);
    ServerSettings defaults = ServerSettings.loopback().configPath(dir.resolve("p.yaml")).build();
    try (TestServer server = TestServer.start(defaults.toBuilder().nearLimitRatio(0.8).build(),
        ManualClock.atRoundTime())) {
      RateLimitDescriptor free = descriptor("tier", "free", "org", "acme");
      for (int i = 0; i < 50; i++) {
        server.call(request("shop", free)); // 49th and 50th land above 48 = floor(0.8 x 60)
      }
      server.call(request("shop", withHits(free, 20))); // 50 -> 70: 10 near (50..60), 10 over; rejected
      server.call(request("shop", withHits(free, 5))); // 50 -> 55, all near
      server.call(request("shop", withHits(descriptor("trial", "t1"), 12))); // 12 of 10: 2 over, in shadow mode
      server.call(request("shop", withHits(descriptor("open", "o"), 3)));

      String m = Http.get(server.admin("/metrics")).body();
      Map<String, String> freeKey = Map.of("domain", "shop", "key", "tier_free.org");
      assertEquals(75.0, Http.sample(m, "ratelimit_total_hits_total", freeKey));
      assertEquals(55.0, Http.sample(m, "ratelimit_within_limit_total", freeKey));
      assertEquals(17.0, Http.sample(m, "ratelimit_near_limit_total", freeKey), "2 + 10 + 5");
      assertEquals(10.0, Http.sample(m, "ratelimit_over_limit_total", freeKey));
      assertEquals(0.0, Http.sample(m, "ratelimit_shadow_mode_total", freeKey));

      Map<String, String> trial = Map.of("domain", "shop", "key", "trial");
      assertEquals(12.0, Http.sample(m, "ratelimit_total_hits_total", trial));
      assertEquals(2.0, Http.sample(m, "ratelimit_over_limit_total", trial));
      assertEquals(2.0, Http.sample(m, "ratelimit_shadow_mode_total", trial));
      assertEquals(2.0, Http.sample(m, "ratelimit_near_limit_total", trial), "8..10");
      assertNull(Http.sample(m, "ratelimit_total_hits_total", Map.of("key", "open")), "unlimited: never counted");

      Map<String, String> shouldRateLimit = Map.of("listener", "grpc",
          "method", "envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit", "code", "OK");
      assertEquals(54.0, Http.sample(m, "grpc_server_calls_seconds_count", shouldRateLimit));
    }
  }
}
