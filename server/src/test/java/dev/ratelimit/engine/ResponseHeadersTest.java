package dev.ratelimit.engine;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.policy.RateLimitRule;
import dev.ratelimit.policy.Unit;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.engine.ResponseHeaders.Format;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each header contract, value by value, and which answers carry none. */
class ResponseHeadersTest {
  private static final long NOW = 1_767_225_600_000L; // 2026-01-01T00:00:00Z
  private static final RateLimitRule FREE = RateLimitRule.builder("api/tier=free/org").name("free")
      .requestsPerUnit(60).unit(Unit.MINUTE).limiter(new SlidingWindowLimiter(Duration.ofMinutes(1), 60)).build();
  /** 3 counted of 60, the oldest ages out 41.2 s from now. */
  private static final Verdict OK = new Verdict(false, 60, 3, 57, NOW + 41_200);
  /** Over: 60 of 60 (a lowered limit: 70 of 60 gives remaining -10), the oldest ages out 0.3 s from now. */
  private static final Verdict OVER = new Verdict(true, 60, 70, -10, NOW + 300);

  @TempDir
  Path dir;

  @Test
  void xRatelimitIsTodaysContractWithRetryAfterAndAnOptionalLimit() {
    assertEquals(Map.of("x-ratelimit-remaining", "57", "x-ratelimit-current", "3", "x-ratelimit-reset", "1767225642"),
        write(ResponseHeaders.defaults(), OK));
    assertEquals(List.of("x-ratelimit-remaining", "x-ratelimit-current", "x-ratelimit-reset", "retry-after"),
        List.copyOf(write(ResponseHeaders.defaults(), OVER).keySet()));
    assertEquals(Map.of("x-ratelimit-remaining", "-10", "x-ratelimit-current", "70", "x-ratelimit-reset",
        "1767225601", "retry-after", "1"), write(ResponseHeaders.defaults(), OVER), "at least 1 s");
    assertEquals(Map.of("x-ratelimit-remaining", "57", "x-ratelimit-current", "3", "x-ratelimit-reset", "1767225642",
        "x-ratelimit-limit", "60"), write(new ResponseHeaders(Format.X_RATELIMIT, true, true), OK));
  }

  @Test
  void ietfDraft11() {
    assertEquals(Map.of("ratelimit-policy", "\"free\";q=60;w=60", "ratelimit", "\"free\";r=57;t=42"),
        write(new ResponseHeaders(Format.IETF, true, false), OK));
    assertEquals(Map.of("ratelimit-policy", "\"free\";q=60;w=60", "ratelimit", "\"free\";r=0;t=1",
        "retry-after", "1"), write(new ResponseHeaders(Format.IETF, true, false), OVER), "r never negative");
    assertEquals("\"a\\\"b\\\\c?\"", ResponseHeaders.sfString("a\"b\\cé"));
  }

  @Test
  void draft03AsEnvoyEmitsIt() {
    assertEquals(Map.of("x-ratelimit-limit", "60, 60;w=60", "x-ratelimit-remaining", "57", "x-ratelimit-reset", "42"),
        write(new ResponseHeaders(Format.DRAFT03, true, true), OK));
    assertEquals(Map.of("x-ratelimit-limit", "60, 60;w=60", "x-ratelimit-remaining", "0", "x-ratelimit-reset", "1"),
        write(new ResponseHeaders(Format.DRAFT03, false, false), OVER), "--no-retry-after");
  }

  @Test
  void noneSendsOnlyRetryAfter() {
    assertEquals(Map.of(), write(new ResponseHeaders(Format.NONE, true, true), OK));
    assertEquals(Map.of("retry-after", "1"), write(new ResponseHeaders(Format.NONE, true, false), OVER));
    assertEquals(Format.DRAFT03, Format.parse(" Draft03 "));
    assertEquals(null, Format.parse("x-rate-limit"));
  }

  @Test
  void theEngineWritesTheReportingDescriptorInTheChosenFormat() throws Exception {
    ManualClock clock = ManualClock.atRoundTime();
    ServerSettings defaults = ServerSettings.loopback().build();
    try (TestServer server = TestServer.start(defaults.toBuilder().headers(new ResponseHeaders(Format.IETF, true, false)).build(), clock)) {
      RateLimitRequest free = request("api", descriptor("tier", "free", "org", "acme"));
      server.call(free);
      clock.advance(Duration.ofSeconds(1));
      server.call(free);
      assertEquals(Map.of("ratelimit-policy", "\"free\";q=60;w=60", "ratelimit", "\"free\";r=57;t=60"),
          headers(server.call(free)), "the first hit ages out 61 s after it");
      RateLimitResponse over = server.call(free.toBuilder().setHitsAddend(58).build());
      assertEquals(Code.OVER_LIMIT, over.getOverallCode());
      assertEquals(Map.of("ratelimit-policy", "\"free\";q=60;w=60", "ratelimit", "\"free\";r=57;t=60",
          "retry-after", "60"), headers(over));
    }
  }

  @Test
  void unlimitedAndReportHeadersFalseSupplyNoHeadersInAnyFormat() throws Exception {
    Files.writeString(dir.resolve("p.yaml"), """
        domain: quiet
        descriptors:
          - key: open
            rate_limit: {unlimited: true}
          - key: hidden
            rate_limit: {unit: minute, requests_per_unit: 1, report_headers: false}
        """);
    for (Format format : Format.values()) {
      ServerSettings defaults = ServerSettings.loopback().configPath(dir.resolve("p.yaml")).build();
      try (TestServer server = TestServer.start(defaults.toBuilder().headers(new ResponseHeaders(format, true, true)).build(), ManualClock.atRoundTime())) {
        RateLimitRequest both = request("quiet", descriptor("open", "x"), descriptor("hidden", "y"));
        assertEquals(Code.OK, server.call(both).getOverallCode());
        RateLimitResponse over = server.call(both);
        assertEquals(Code.OVER_LIMIT, over.getOverallCode(), format.flag());
        assertTrue(over.getResponseHeadersToAddList().isEmpty(), format.flag() + ": " + headers(over));
      }
    }
  }

  private static Map<String, String> write(ResponseHeaders headers, Verdict verdict) {
    RateLimitResponse.Builder response = RateLimitResponse.newBuilder();
    headers.write(response, FREE, verdict, NOW);
    Map<String, String> written = new LinkedHashMap<>();
    response.getResponseHeadersToAddList().forEach(h -> written.put(h.getKey(), h.getValue()));
    assertEquals(response.getResponseHeadersToAddCount(), written.size(), "no header twice");
    return written;
  }

  @Test
  void everyFormatIsChosenByItsFlagWhateverItsCase() {
    for (Format format : Format.values()) {
      assertEquals(format, Format.parse(format.flag()));
      assertEquals(format, Format.parse(" " + format.flag().toUpperCase(java.util.Locale.ROOT) + " "));
    }
    assertEquals(List.of("x-ratelimit", "ietf", "draft03", "none"),
        java.util.Arrays.stream(Format.values()).map(Format::flag).toList(), "the names --response-headers takes");
    assertEquals(null, Format.parse("rfc9999"));
  }

  @Test
  void aRuleNameIsAStructuredFieldStringOfPrintableAscii() {
    assertEquals("\"a b~\"", ResponseHeaders.sfString("a b~"), "space and ~ are the first and last printable");
    assertEquals("\"?x?\"", ResponseHeaders.sfString("\u001fx\u007f"), "controls and DEL are not");
    assertEquals("\"\\\"q\\\\\"", ResponseHeaders.sfString("\"q\\"), "quote and backslash escaped");
    assertEquals("\"caf?\"", ResponseHeaders.sfString("caf\u00e9"));
    assertEquals("\"a\"", ResponseHeaders.sfString("a"), "the shortest names too");
    assertEquals("\"\"", ResponseHeaders.sfString(""));
  }
}
