package dev.ratelimit.ops;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.Http;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import java.net.http.HttpResponse;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The admin HTTP port over real HTTP, with the default policy. */
class AdminHttpServerTest {
  private final ManualClock clock = ManualClock.atRoundTime();
  private TestServer server;

  @BeforeEach
  void start() throws Exception {
    server = TestServer.start(ServerSettings.loopback().build(), clock);
  }

  @AfterEach
  void stop() throws Exception {
    server.close();
  }

  private double metric(String body, String name, Map<String, String> labels) {
    Double value = Http.sample(body, name, labels);
    assertNotNull(value, name + labels + " missing from the scrape");
    return value;
  }

  @Test
  void metricsScrapedOverHttpCountEveryDecisionByRuleAndOutcome() throws Exception {
    RateLimitDescriptor keyless = descriptor("tier", "keyless", "remote_address", "192.0.2.7");
    for (int i = 0; i < 32; i++) {
      server.call(request("api", keyless));
    }
    for (int i = 0; i < 3; i++) {
      server.call(request("api", descriptor("tier", "platinum", "org", "acme")));
    }
    server.call(request("shadowland", keyless));

    HttpResponse<String> scrape = Http.get(server.admin("/metrics"));
    assertEquals(200, scrape.statusCode());
    assertTrue(scrape.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"));
    String body = scrape.body();
    assertEquals(30.0, metric(body, "ratelimit_decisions_total",
        Map.of("domain", "api", "rule", "keyless", "outcome", "ok")));
    assertEquals(2.0, metric(body, "ratelimit_decisions_total",
        Map.of("domain", "api", "rule", "keyless", "outcome", "over_limit")));
    assertEquals(0.0, metric(body, "ratelimit_decisions_total",
        Map.of("domain", "api", "rule", "keyless", "outcome", "shadow_over_limit")));
    assertEquals(3.0, metric(body, "ratelimit_decisions_total",
        Map.of("domain", "api", "rule", "none", "outcome", "no_rule")));
    assertEquals(1.0, metric(body, "ratelimit_unknown_domain_total", Map.of()));
    assertEquals(36.0, metric(body, "ratelimit_should_rate_limit_seconds_count", Map.of()), "one per call");
    assertTrue(body.contains("ratelimit_should_rate_limit_seconds_bucket{le="), "latency is a histogram");
    assertEquals(1.0, metric(body, "ratelimit_store_entries", Map.of()), "one counter: the keyless client's");
    assertTrue(metric(body, "ratelimit_store_offheap_bytes", Map.of()) > 0);
    assertEquals(1_000_000.0, metric(body, "ratelimit_store_capacity_entries", Map.of()));
    assertEquals(0.0, metric(body, "ratelimit_store_failures_total", Map.of("kind", "full")));
    assertEquals(0.0, metric(body, "ratelimit_config_reloads_total", Map.of("result", "rejected")));
    assertTrue(metric(body, "ratelimit_config_rules", Map.of()) > 5);
  }

  @Test
  void openMetricsIsServedWhenTheScraperAsksForIt() throws Exception {
    server.call(request("api", descriptor("tier", "free", "org", "acme")));
    var openMetrics = java.net.http.HttpClient.newHttpClient().send(
        java.net.http.HttpRequest.newBuilder(server.admin("/metrics"))
            .header("Accept", "application/openmetrics-text; version=1.0.0").build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, openMetrics.statusCode());
    assertTrue(openMetrics.headers().firstValue("Content-Type").orElse("")
        .startsWith("application/openmetrics-text"));
    assertTrue(openMetrics.body().strip().endsWith("# EOF"));
  }

  @Test
  void healthAndReadinessAnswerWhileServing() throws Exception {
    assertEquals(200, Http.get(server.admin("/healthz")).statusCode());
    HttpResponse<String> ready = Http.get(server.admin("/readyz"));
    assertEquals(200, ready.statusCode());
    assertEquals("ready\n", ready.body());
    assertEquals(200, Http.send(server.admin("/healthz"), "HEAD").statusCode());
  }

  @Test
  void configShowsTheRulesAndTheSourceText() throws Exception {
    HttpResponse<String> config = Http.get(server.admin("/config"));
    assertEquals(200, config.statusCode());
    String body = config.body();
    assertTrue(body.contains("# policy from the embedded default policy"), body);
    assertTrue(body.contains("# domain api (classpath:/default-policy/api.yaml)"), body);
    assertTrue(body.contains("api/tier=keyless/remote_address name=keyless 30 per 1m sliding_window("), body);
    assertTrue(body.contains("--- classpath:/default-policy/api.yaml\n# Default policy"), body);
  }

  @Test
  void reloadOfTheEmbeddedPolicyFindsNothingChanged() throws Exception {
    HttpResponse<String> reload = Http.post(server.admin("/reload"));
    assertEquals(200, reload.statusCode());
    assertTrue(reload.body().startsWith("unchanged"), reload.body());
    assertEquals(Code.OK, server.call(request("api", descriptor("tier", "free", "org", "acme"))).getOverallCode());
  }

  @Test
  void wrongMethodsAndUnknownPathsAreRefused() throws Exception {
    HttpResponse<String> getReload = Http.get(server.admin("/reload"));
    assertEquals(405, getReload.statusCode());
    assertEquals("POST", getReload.headers().firstValue("Allow").orElse(""));
    assertEquals(405, Http.post(server.admin("/metrics")).statusCode());
    assertEquals(404, Http.get(server.admin("/metrics/extra")).statusCode());
    assertEquals(404, Http.get(server.admin("/")).statusCode());
  }
}
