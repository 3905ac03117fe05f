package dev.ratelimit.durability;

import dev.ratelimit.store.StoreSettings;
import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A persisted store keeps counters across a server restart. */
class PersistenceTest {
  @Test
  void countersSurviveARestartOnTheSameDataFile(@TempDir Path dir) throws Exception {
    ManualClock clock = ManualClock.atRoundTime();
    ServerSettings settings = ServerSettings.loopback()
        .store(StoreSettings.embedded(new ChronicleMapStore.Settings(10_000, 48, 260, dir.resolve("counters.dat"))))
        .build();
    RateLimitDescriptor pro = descriptor("tier", "pro", "org", "acme");
    try (TestServer first = TestServer.start(settings, clock)) {
      for (int i = 0; i < 25; i++) {
        assertEquals(Code.OK, first.call(request("api", pro)).getOverallCode());
      }
    }
    clock.advance(Duration.ofSeconds(5));
    try (TestServer second = TestServer.start(settings, clock)) {
      assertEquals("25", headers(second.call(request("api", withHits(pro, 0)))).get("x-ratelimit-current"));
      assertEquals("26", headers(second.call(request("api", pro))).get("x-ratelimit-current"));
    }
  }
}
