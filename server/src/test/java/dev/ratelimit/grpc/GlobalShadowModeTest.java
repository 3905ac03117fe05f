package dev.ratelimit.grpc;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.Http;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** --shadow-mode: decided, counted and reported as usual, answered OK. */
class GlobalShadowModeTest {
  @Test
  void overLimitAnswersTurnOkWhileCountingAndHeadersStayAsUsual() throws Exception {
    ServerSettings defaults = ServerSettings.loopback().build();
    try (TestServer server = TestServer.start(defaults.toBuilder().shadowMode(true).build(),
        ManualClock.atRoundTime())) {
      RateLimitDescriptor free = descriptor("tier", "free", "org", "acme");
      RateLimitDescriptor blocked = descriptor("firewall", "per_ip", "remote_address", "198.51.100.66");
      for (int i = 0; i < 60; i++) {
        assertEquals(Code.OK, server.call(request("api", free)).getOverallCode());
      }
      RateLimitResponse over = server.call(request("api", free, blocked));
      assertEquals(Code.OK, over.getOverallCode());
      assertEquals(Code.OK, over.getStatuses(0).getCode(), "no status is OVER_LIMIT");
      assertEquals(Code.OK, over.getStatuses(1).getCode());
      assertEquals(0, over.getStatuses(0).getLimitRemaining());
      Map<String, String> headers = headers(over);
      assertEquals("0", headers.get("x-ratelimit-remaining"), "headers still sent");
      assertEquals("60", headers.get("x-ratelimit-current"));
      assertFalse(headers.containsKey("retry-after"), "nothing was refused");

      assertEquals("60", headers(server.call(request("api", withHits(free, 0)))).get("x-ratelimit-current"),
          "the rejected request counted nowhere");
      assertEquals("10", headers(server.call(request("api", withHits(blocked, 0)))).get("x-ratelimit-remaining"),
          "not even in the firewall rule it passed");

      String metrics = Http.get(server.admin("/metrics")).body();
      assertEquals(1.0, Http.sample(metrics, "ratelimit_global_shadow_mode_total", Map.of()));
      assertEquals(1.0, Http.sample(metrics, "ratelimit_over_limit_total", Map.of("key", "tier_free.org")));
      assertEquals(1.0, Http.sample(metrics, "ratelimit_decisions_total",
          Map.of("rule", "free", "outcome", "over_limit")), "decided as usual");
    }
  }
}
