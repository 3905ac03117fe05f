package dev.ratelimit.engine;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code rate_limit.replaces}: when both rules match one request, the replaced one is neither applied nor counted. */
class ReplacesTest {
  @Test
  void aReplacedRuleIsNotAppliedWhileTheReplacingRuleMatches(@TempDir Path dir) throws Exception {
    Path policy = dir.resolve("p.yaml");
    Files.writeString(policy, """
        domain: d
        descriptors:
          - key: org
            rate_limit: {name: general, unit: minute, requests_per_unit: 2}
          - key: partner
            value: big
            rate_limit: {name: partner_big, unit: minute, requests_per_unit: 5, replaces: [{name: general}]}
        """);
    RateLimitDescriptor org = descriptor("org", "acme");
    RateLimitDescriptor partner = descriptor("partner", "big");
    try (TestServer server = TestServer.start(ServerSettings.loopback().configPath(policy).build(),
        ManualClock.atRoundTime())) {
      for (int i = 1; i <= 5; i++) {
        RateLimitResponse response = server.call(request("d", org, partner));
        assertEquals(Code.OK, response.getOverallCode(), "request " + i + ": the general limit of 2 does not apply");
        assertFalse(response.getStatuses(0).hasCurrentLimit(), "the replaced descriptor reports no limit");
        assertEquals(Integer.toString(i), headers(response).get("x-ratelimit-current"));
      }
      assertEquals(Code.OVER_LIMIT, server.call(request("d", org, partner)).getOverallCode(), "partner_big: 5");
      RateLimitResponse alone = server.call(request("d", org));
      assertEquals(Code.OK, alone.getOverallCode());
      assertEquals("1", headers(alone).get("x-ratelimit-current"), "the replaced rule counted nothing meanwhile");
    }
  }
}
