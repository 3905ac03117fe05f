package dev.ratelimit.grpc;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.proto.admin.v1.Entry;
import dev.ratelimit.proto.admin.v1.GetCounterRequest;
import dev.ratelimit.proto.admin.v1.GetCounterResponse;
import dev.ratelimit.proto.admin.v1.RateLimitAdminGrpc;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The admin API's GetCounter reads a counter exactly, without counting, whatever the rule reports in headers. */
class AdminCounterTest {
  private final ManualClock clock = ManualClock.atRoundTime();

  private static GetCounterRequest counter(String domain, String... keysAndValues) {
    GetCounterRequest.Builder r = GetCounterRequest.newBuilder().setDomain(domain);
    for (int i = 0; i < keysAndValues.length; i += 2) {
      r.addEntries(Entry.newBuilder().setKey(keysAndValues[i]).setValue(keysAndValues[i + 1]));
    }
    return r.build();
  }

  @Test
  void readsCountersOfRulesThatReportNoHeadersWithoutCounting(@TempDir Path dir) throws Exception {
    Path policy = dir.resolve("quiet.yaml");
    Files.writeString(policy, """
        domain: quiet
        descriptors:
          - key: org
            rate_limit: {name: hidden, unit: minute, requests_per_unit: 5, report_headers: false}
        """);
    try (TestServer server = TestServer.start(ServerSettings.loopback().configPath(policy).build(),
        clock)) {
      for (int i = 0; i < 7; i++) {
        server.call(request("quiet", descriptor("org", "acme")));
      }
      clock.advance(Duration.ofSeconds(2));
      var admin = RateLimitAdminGrpc.newBlockingStub(server.adminChannel());
      GetCounterResponse view = admin.getCounter(counter("quiet", "org", "acme"));
      assertTrue(view.getMatched());
      assertEquals("hidden", view.getRuleName());
      assertEquals(5, view.getLimit());
      assertEquals(5, view.getCurrent(), "two of seven were rejected and not recorded");
      assertEquals(0, view.getRemaining());
      assertEquals(clock.millis() / 1000 - 2 + 1 + 60, view.getResetUnixSeconds());
      assertEquals(5, admin.getCounter(counter("quiet", "org", "acme")).getCurrent(), "reading counts nothing");

      assertFalse(admin.getCounter(counter("quiet", "team", "x")).getMatched());
      assertFalse(admin.getCounter(counter("elsewhere", "org", "acme")).getMatched());
      StatusRuntimeException empty = assertThrows(StatusRuntimeException.class,
          () -> admin.getCounter(counter("quiet")));
      assertEquals(Status.Code.INVALID_ARGUMENT, empty.getStatus().getCode());
    }
  }
}
