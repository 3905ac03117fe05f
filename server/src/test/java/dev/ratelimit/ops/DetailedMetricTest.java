package dev.ratelimit.ops;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.Http;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Per-value series only for detailed_metric rules, and at most the configured number per rule. */
class DetailedMetricTest {
  @TempDir
  Path dir;

  @Test
  void detailedRulesGetSeriesPerValueUpToTheCapAndTheRestUnderOther() throws Exception {
    Files.writeString(dir.resolve("p.yaml"), """
        domain: shop
        descriptors:
          - key: customer
            detailed_metric: true
            rate_limit: {name: per_customer, unit: minute, requests_per_unit: 2}
          - key: sku
            rate_limit: {name: per_sku, unit: minute, requests_per_unit: 100}
        """);
    ServerSettings settings = ServerSettings.loopback()
        .configPath(dir.resolve("p.yaml"))
        .detailedMetricValues(3)
        .build();
    try (TestServer server = TestServer.start(settings, ManualClock.atRoundTime())) {
      for (int c = 0; c < 10; c++) {
        for (int i = 0; i < 3; i++) {
          server.call(request("shop", descriptor("customer", "c" + c), descriptor("sku", "s" + c)));
        }
      }
      String body = Http.get(server.admin("/metrics")).body();
      String name = "ratelimit_detailed_decisions_total";
      assertEquals(2.0, Http.sample(body, name, Map.of("descriptor", "customer=c0", "outcome", "ok")));
      assertEquals(1.0, Http.sample(body, name, Map.of("descriptor", "customer=c2", "outcome", "over_limit")));
      assertNull(Http.sample(body, name, Map.of("descriptor", "customer=c3", "outcome", "ok")), "beyond the cap");
      assertEquals(14.0, Http.sample(body, name, Map.of("descriptor", "_other", "outcome", "ok")), "7 x 2");
      assertEquals(7.0, Http.sample(body, name, Map.of("descriptor", "_other", "outcome", "over_limit")));
      assertEquals(4, body.lines().filter(l -> l.startsWith(name + "{") && l.contains("outcome=\"ok\"")).count());
      assertNull(Http.sample(body, name, Map.of("rule", "per_sku", "outcome", "ok")), "not a detailed rule");
      assertEquals(20.0, Http.sample(body, "ratelimit_decisions_total",
          Map.of("rule", "per_customer", "outcome", "ok")));
    }
  }
}
