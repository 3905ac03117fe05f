package dev.ratelimit.engine;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A rule with {@code penalty} through the gRPC service: only the penalised rule's clients are shut out. */
class PenaltyServiceTest {
  @Test
  void aClientHammeringPastTheFactorIsRejectedUntilThePenaltyEnds(@TempDir Path dir) throws Exception {
    Path policy = Files.writeString(dir.resolve("api.yaml"), """
        domain: api
        descriptors:
          - key: org
            rate_limit:
              algorithm: fixed_window
              unit: second
              unit_multiplier: 10
              requests_per_unit: 10
              penalty: {over_factor: 3, duration: 60s}
        """);
    ManualClock clock = ManualClock.atRoundTime();
    try (TestServer server = TestServer.start(ServerSettings.loopback().configPath(policy).build(),
        clock)) {
      RateLimitDescriptor abuser = descriptor("org", "abuser");
      RateLimitDescriptor polite = descriptor("org", "polite");
      for (int i = 0; i < 30; i++) {
        Code expected = i < 10 ? Code.OK : Code.OVER_LIMIT;
        assertEquals(expected, server.call(request("api", abuser)).getOverallCode(), "request " + (i + 1));
        assertEquals(expected, server.call(request("api", polite)).getOverallCode(), "request " + (i + 1));
      }
      clock.advance(Duration.ofSeconds(1));
      RateLimitResponse crossing = server.call(request("api", abuser)); // the 31st: 21 rejected > (3 - 1) × 10
      assertEquals(Code.OVER_LIMIT, crossing.getOverallCode());
      assertEquals(Long.toString(clock.millis() / 1000 + 60), headers(crossing).get("x-ratelimit-reset"));
      clock.advance(Duration.ofSeconds(9));
      assertEquals(Code.OK, server.call(request("api", polite)).getOverallCode(), "30 sent: not penalised");
      RateLimitResponse penalised = server.call(request("api", abuser));
      assertEquals(Code.OVER_LIMIT, penalised.getOverallCode(), "a new window, but the penalty holds");
      assertEquals(51, penalised.getStatuses(0).getDurationUntilReset().getSeconds());
      clock.advance(Duration.ofSeconds(51));
      assertEquals(Code.OK, server.call(request("api", abuser)).getOverallCode(), "the penalty is over");
    }
  }
}
