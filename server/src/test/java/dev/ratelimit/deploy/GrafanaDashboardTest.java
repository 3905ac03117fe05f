package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratelimit.Main;
import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.Http;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The Grafana dashboard in deploy/grafana charts only series the server exports: every metric name in its queries is
 * scraped from a real server's {@code /metrics} after some traffic (no Grafana or Prometheus runs here).
 */
@Tag("deploy")
class GrafanaDashboardTest {
  private static final Pattern METRIC = Pattern.compile("\\b((?:ratelimit|grpc_server|jvm|process)_[a-z0-9_]+)");

  @Test
  void everyQueriedSeriesIsExported() throws Exception {
    JsonNode dashboard = new ObjectMapper().readTree(
        Files.readString(Repo.file("deploy/grafana/ratelimit-dashboard.json")));
    assertEquals("ratelimit-server", dashboard.get("uid").asText());
    Set<String> queried = new TreeSet<>();
    List<String> expressions = new ArrayList<>();
    for (JsonNode panel : dashboard.get("panels")) {
      assertTrue(panel.get("targets").size() > 0, panel.get("title") + " has queries");
      for (JsonNode target : panel.get("targets")) {
        expressions.add(target.get("expr").asText());
      }
    }
    expressions.add(dashboard.at("/templating/list/1/query").asText());
    for (String expr : expressions) {
      Matcher m = METRIC.matcher(expr);
      while (m.find()) {
        queried.add(m.group(1));
      }
    }
    assertTrue(queried.size() >= 12, "queried: " + queried);

    try (TestServer server = TestServer.start(ServerSettings.loopback().build(),
        ManualClock.atRoundTime(), Main.registry())) {
      for (int i = 0; i < 70; i++) {
        server.call(request("api", descriptor("tier", "free", "org", "acme")));
      }
      server.server().reloader().reload("test");
      String scrape = Http.get(server.admin("/metrics")).body();
      Set<String> missing = new TreeSet<>();
      for (String name : queried) {
        if (!Pattern.compile("(?m)^" + Pattern.quote(name) + "[{ ]").matcher(scrape).find()) {
          missing.add(name);
        }
      }
      assertEquals(Set.of(), missing, "queried by the dashboard but not exported");
    }
  }
}
